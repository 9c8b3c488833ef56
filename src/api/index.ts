/** api: the public client API's wire layer (proto/kv.proto), shared by server/ and client/. */
export * from './messages.js';
export * from './services.js';
export * from './proto-files.js';
export * from './error-metadata.js';
export * from './package-info.js';
export * from './request-validation.js';
export * from './pipeline.js';
