/**
 * A TLS identity that reloads itself: the files are read again every `reloadIntervalMs`, and a
 * change is published only once the new files load and pass the same checks as at start-up (a
 * certificate written before its key, or a key that does not match, keeps the previous pair in
 * service and logs a warning). Servers pick up a change for new connections
 * (`setSecureContext`); channels at their next connection. Existing connections keep the
 * certificate they were made with.
 *
 * It implements grpc-js's `CertificateProvider` for channel credentials and has `onChange` for
 * the server credentials (server-credentials.ts).
 */
import type { experimental } from '@grpc/grpc-js';
import { noopLogger } from '../util/index.js';
import type { Logger } from '../util/index.js';
import { loadTlsMaterial } from './tls-material.js';
import type { CertificateCheck, TlsFiles, TlsMaterial } from './tls-material.js';

type CaListener = experimental.CaCertificateUpdateListener;
type IdentityListener = experimental.IdentityCertificateUpdateListener;

/** Options of a `CertificateSource`. */
export interface CertificateSourceOptions {
  readonly files: TlsFiles;
  /** Names the files in messages, for example "peer TLS". */
  readonly what: string;
  /** How often the files are read again; 0 turns reloading off. */
  readonly reloadIntervalMs: number;
  /** Extra check on every loaded certificate (for example that it names this node). */
  readonly check?: CertificateCheck;
  readonly logger?: Logger;
}

/** A TLS identity read from files, reloaded when they change. */
export class CertificateSource implements experimental.CertificateProvider {
  private material: TlsMaterial;
  private readonly caListeners = new Set<CaListener>();
  private readonly identityListeners = new Set<IdentityListener>();
  private readonly changeListeners = new Set<(m: TlsMaterial) => void>();
  private timer: NodeJS.Timeout | null = null;
  private readonly logger: Logger;

  /** Loads the files now; throws `FailedPreconditionError` if they are unusable. */
  constructor(private readonly options: CertificateSourceOptions) {
    this.logger = options.logger ?? noopLogger;
    this.material = loadTlsMaterial(options.files, options.what, Date.now(), options.check);
    if (options.reloadIntervalMs > 0) {
      this.timer = setInterval(() => this.reload(), options.reloadIntervalMs);
      this.timer.unref();
    }
  }

  /** The identity in use now. */
  get current(): TlsMaterial {
    return this.material;
  }

  /** Calls `listener` after every successful reload that changed something. */
  onChange(listener: (m: TlsMaterial) => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  /**
   * Reads the files again; publishes them if they changed and pass the checks. Returns true if
   * a new identity was published. Called by the timer; public so that tests need not wait.
   */
  reload(): boolean {
    let next: TlsMaterial;
    try {
      next = loadTlsMaterial(this.options.files, this.options.what, Date.now(), this.options.check);
    } catch (e) {
      this.logger.warn({ what: this.options.what, err: e instanceof Error ? e.message : String(e) }, 'tls: reload failed, keeping the certificate in use');
      return false;
    }
    const same = next.cert.equals(this.material.cert) && next.key.equals(this.material.key) && (next.ca === null ? this.material.ca === null : this.material.ca !== null && next.ca.equals(this.material.ca));
    if (same) return false;
    this.material = next;
    this.logger.info({ what: this.options.what, notAfter: new Date(next.notAfterMs).toISOString() }, 'tls: certificate reloaded');
    for (const l of this.changeListeners) l(next);
    for (const l of this.identityListeners) l({ certificate: next.cert, privateKey: next.key });
    if (next.ca !== null) for (const l of this.caListeners) l({ caCertificate: next.ca });
    return true;
  }

  /** Stops reloading. */
  close(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  addCaCertificateListener(listener: CaListener): void {
    this.caListeners.add(listener);
    const ca = this.material.ca;
    process.nextTick(() => listener(ca === null ? null : { caCertificate: ca }));
  }

  removeCaCertificateListener(listener: CaListener): void {
    this.caListeners.delete(listener);
  }

  addIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.add(listener);
    const { cert, key } = this.material;
    process.nextTick(() => listener({ certificate: cert, privateKey: key }));
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.delete(listener);
  }
}
