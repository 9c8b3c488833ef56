// Proves how the client turns TLS on: https:// endpoints, the tls option, and clear errors for
// mixed schemes, a certificate without its key, and tls:false with https:// endpoints.
import { describe, expect, it } from 'vitest';
import { resolveOptions } from './options.js';
import { endpointSchemes, resolveTls } from './tls.js';

describe('client TLS options', () => {
  it('strips https:// and http://, and refuses a mix', () => {
    expect(endpointSchemes('https://a:1, https://b:2/')).toEqual({ endpoints: ['a:1', 'b:2'], https: true });
    expect(endpointSchemes(['http://a:1', 'b:2'])).toEqual({ endpoints: ['a:1', 'b:2'], https: false });
    expect(() => endpointSchemes('https://a:1,http://b:2')).toThrow(/mixes https:\/\/ and http:\/\//);
  });

  it('turns TLS on for https:// endpoints or the tls option, and checks it', () => {
    expect(resolveTls(undefined, false)).toBeNull();
    expect(resolveTls(undefined, true)).toEqual({});
    expect(resolveTls(true, false)).toEqual({});
    expect(() => resolveTls(false, true)).toThrow(/is false, but the endpoints are https:\/\//);
    expect(resolveOptions({ endpoints: 'https://127.0.0.1:7001' }).credentials._isSecure()).toBe(true);
    expect(resolveOptions({ endpoints: '127.0.0.1:7001' }).credentials._isSecure()).toBe(false);
    expect(resolveOptions({ endpoints: 'https://127.0.0.1:7001' }).endpoints).toEqual(['127.0.0.1:7001']);
    expect(() => resolveOptions({ endpoints: '127.0.0.1:7001', tls: { cert: 'x' } })).toThrow(/tls.key: a client certificate needs both cert and key/);
    expect(() => resolveOptions({ endpoints: '127.0.0.1:7001', tls: { ca: 'not a pem' } })).toThrow(/tls: unusable certificate or key/);
  });
});
