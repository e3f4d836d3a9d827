import {
  CONNECTION_NAME,
  connectionEnvVar,
  DATASET_NAME,
  PIPELINE_NAME,
  quoteIdentifier,
  quoteTable,
} from '../../core/identifiers';

describe('quoteIdentifier', () => {
  it.each(['orders', '_tmp', 'Orders', 'order_id2', 'price$eur', 'a'.repeat(63)])('double-quotes %j', (name) => {
    expect(quoteIdentifier(name)).toBe(`"${name}"`);
  });

  it.each([
    'x"; drop table orders; --',
    'x; drop',
    'my col',
    '1abc',
    '',
    'a'.repeat(64),
    'raw.orders',
    'é',
    '"quoted"',
    'a-b',
    'tab\there',
  ])('rejects %j', (name) => {
    expect(() => quoteIdentifier(name)).toThrow(`invalid SQL identifier ${JSON.stringify(name)}`);
  });
});

describe('quoteTable', () => {
  it('quotes a table and a schema-qualified table part by part', () => {
    expect(quoteTable('orders')).toBe('"orders"');
    expect(quoteTable('raw.orders')).toBe('"raw"."orders"');
    expect(quoteTable('Analytics.Orders_Daily')).toBe('"Analytics"."Orders_Daily"');
  });

  it.each([
    'x"; drop table orders; --',
    'raw.orders; drop table x',
    'x; drop',
    'a.b.c',
    'raw.',
    '.orders',
    'raw."orders"',
    'my table',
    '',
  ])('rejects %j', (name) => {
    expect(() => quoteTable(name)).toThrow(`invalid table name ${JSON.stringify(name)}`);
  });
});

describe('connectionEnvVar', () => {
  it('upper-cases the connection name into PIPECTL_CONNECTION_<NAME>', () => {
    expect(connectionEnvVar('warehouse')).toBe('PIPECTL_CONNECTION_WAREHOUSE');
    expect(connectionEnvVar('source_2')).toBe('PIPECTL_CONNECTION_SOURCE_2');
  });
});

describe('name patterns', () => {
  it('accepts pipeline names of lower-case letters, digits, _ and -', () => {
    for (const name of ['orders', 'orders_daily', 'orders-daily', 'o2', 'a'.repeat(100)])
      expect(PIPELINE_NAME.test(name)).toBe(true);
    for (const name of ['Orders', 'orders daily', '2orders', '_orders', 'a/b', '', 'a'.repeat(101)]) {
      expect(PIPELINE_NAME.test(name)).toBe(false);
    }
  });

  it('accepts connection names that make valid environment variables', () => {
    for (const name of ['warehouse', 'source_2']) expect(CONNECTION_NAME.test(name)).toBe(true);
    for (const name of ['Bad-Name', 'Warehouse', 'ware-house', '2source', ''])
      expect(CONNECTION_NAME.test(name)).toBe(false);
  });

  it('accepts dotted and file-like dataset names', () => {
    for (const name of ['raw.orders', 'analytics.orders_daily', 'files/orders.csv', 's3:bucket/key']) {
      expect(DATASET_NAME.test(name)).toBe(true);
    }
    for (const name of ['', '.hidden', 'a b', "x'; drop"]) expect(DATASET_NAME.test(name)).toBe(false);
  });
});
