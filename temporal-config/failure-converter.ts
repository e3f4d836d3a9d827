import { DefaultFailureConverter } from '@temporalio/common';

/**
 * The failure converter used when payloads are encrypted: a failure's message and stack trace travel in its encoded
 * attributes, a payload the codec encrypts, instead of in plain text. Loaded by path (`failureConverterPath`).
 */
export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
