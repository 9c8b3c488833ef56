// Proves endpoint parsing: host:port, http:// and https:// (TLS) URLs are accepted; other schemes, paths and bad ports are refused by name.
import { describe, expect, it } from 'vitest';
import { parseEndpoint, parseEndpoints } from './options.js';

describe('endpoints', () => {
  it('accepts host:port and http:// URLs, as a list or an array, without duplicates', () => {
    expect(parseEndpoints('http://127.0.0.1:7001, 127.0.0.1:7002,HTTP://localhost:7003/')).toEqual(['127.0.0.1:7001', '127.0.0.1:7002', 'localhost:7003']);
    expect(parseEndpoints(['[::1]:7001', 'http://[::1]:7001'])).toEqual(['[::1]:7001']);
    expect(parseEndpoint('http://n1:7001')).toEqual({ address: 'n1:7001', tls: false });
    expect(parseEndpoint('https://n1:7001')).toEqual({ address: 'n1:7001', tls: true });
  });

  it('refuses other schemes, paths and bad ports by name', () => {
    expect(() => parseEndpoints('grpc://127.0.0.1:7001')).toThrow(/scheme must be http:\/\/ or https:\/\//);
    expect(() => parseEndpoints('http://127.0.0.1:7001/v3')).toThrow(/is not host:port/);
    expect(() => parseEndpoints('127.0.0.1:70000')).toThrow(/is not host:port/);
    expect(() => parseEndpoints(' , ')).toThrow(/give at least one/);
  });
});
