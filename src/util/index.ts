/** util: assertions, limits, typed errors, branded ids, the seeded PRNG and the Logger interface. */
export * from './brand.js';
export * from './assert.js';
export * from './errors.js';
export * from './limits.js';
export * from './logger.js';
export * from './prng.js';
export * from './bytes.js';
export * from './duration.js';
