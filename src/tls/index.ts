/**
 * tls: certificates for the client and peer ports. The identity convention (SAN URI
 * `raftkv://node/<id>` and `raftkv://client/<name>`), loading and checking PEM files, reloading
 * them without a restart, and the gRPC credentials built on them.
 */
export { clientUriPrefix, identityOfCertificate, identityOfSan, nodeIdOfCertificate, nodeUriPrefix, sanUris } from './identity.js';
export type { CertificateIdentity } from './identity.js';
export { loadTlsMaterial, namesNode } from './tls-material.js';
export type { CertificateCheck, TlsFiles, TlsMaterial } from './tls-material.js';
export { CertificateSource } from './certificate-source.js';
export type { CertificateSourceOptions } from './certificate-source.js';
export { peerChannelCredentials, tlsServerCredentials } from './credentials.js';
export { caPaths, clientCertPaths, createCa, createClientCert, createDevCerts, createNodeCert, devCertDaysDefault, loopbackHosts, nodeCertPaths } from './dev-certs.js';
export type { CertPaths } from './dev-certs.js';
