/**
 * Messages, certificates and capabilities of the PBFT core.
 *
 * The core orders opaque payloads (encoded blocks) one height at a time. It never decodes a payload:
 * the application capability turns a payload into a digest and says whether a proposal is valid on
 * top of the committed tip. Validators are named by their index in the validator set, which is sorted
 * by address, so index order is also the signer order a certificate uses.
 */

export interface SignerSig {
  readonly from: number;
  readonly sig: Uint8Array;
}

/**
 * q commit signatures over the commit digest of (chain id, validator-set hash, height, view, digest),
 * sorted by signer. This is what anyone outside checks; it is stored with the block.
 */
export interface Certificate {
  readonly height: bigint;
  readonly view: bigint;
  readonly digest: Uint8Array;
  readonly sigs: readonly SignerSig[];
}

export interface Propose {
  readonly kind: 'propose';
  readonly view: bigint;
  readonly height: bigint;
  readonly digest: Uint8Array;
  readonly payload: Uint8Array;
  readonly from: number;
  readonly sig: Uint8Array;
}

export interface Vote {
  readonly kind: 'prepare' | 'commit';
  readonly view: bigint;
  readonly height: bigint;
  readonly digest: Uint8Array;
  readonly from: number;
  /** For a commit, the certificate signature itself (over the commit digest). */
  readonly sig: Uint8Array;
}

/** A payload that gathered q matching prepares in `view`: proof that it may have been committed. */
export interface PreparedCert {
  readonly view: bigint;
  readonly height: bigint;
  readonly digest: Uint8Array;
  readonly payload: Uint8Array;
  readonly prepares: readonly SignerSig[];
}

export interface ViewChange {
  readonly kind: 'view-change';
  /** The view the sender wants to move to. */
  readonly view: bigint;
  /** The height the sender is deciding (its committed height + 1). */
  readonly height: bigint;
  /** Certificate of height - 1, proving the sender's committed height (absent at height 1). */
  readonly lastCert: Certificate | null;
  /** The sender's highest prepared certificate for `height`, if any. */
  readonly prepared: PreparedCert | null;
  readonly from: number;
  readonly sig: Uint8Array;
}

export interface NewView {
  readonly kind: 'new-view';
  readonly view: bigint;
  readonly viewChanges: readonly ViewChange[];
  /** The first proposal of the view; required when a view change carried a prepared payload. */
  readonly proposal: Propose | null;
  readonly from: number;
  readonly sig: Uint8Array;
}

/** Gossiped on connect and periodically: drives catch-up and view synchronisation. */
export interface Status {
  readonly kind: 'status';
  readonly view: bigint;
  readonly height: bigint;
  readonly from: number;
  readonly sig: Uint8Array;
}

export type ConsensusMessage = Propose | Vote | ViewChange | NewView | Status;

/** What the node must remember across restarts to never contradict what it has signed. */
export interface SafetyState {
  /** Current view, and whether the node is between views (sent a view change for `view`). */
  readonly view: bigint;
  readonly changing: boolean;
  /** Highest (height, view, digest) signed per vote kind; a different digest there is never signed. */
  readonly lastProposal: SignedMark | null;
  readonly lastPrepare: SignedMark | null;
  readonly lastCommit: SignedMark | null;
  /** The highest prepared certificate for the height being decided; reported in view changes. */
  readonly prepared: PreparedCert | null;
  /** Height below which this node will not sign anything (raised after a restart, see Replica). */
  readonly signFloor: bigint;
}

export interface SignedMark {
  readonly height: bigint;
  readonly view: bigint;
  readonly digest: Uint8Array;
}

/** The state machine being replicated, as the consensus core sees it. */
export interface ConsensusApp {
  /** Digest of an encoded payload (the block hash). Pure. */
  digest(payload: Uint8Array): Uint8Array;
  /** Builds the next payload on top of the committed tip, or null when nothing is pending. */
  propose(height: bigint, now: number): Uint8Array | null;
  /**
   * Checks a proposed payload against the committed tip (height - 1): structure, transactions, proposer
   * time within bounds of `now`. Returns true when it may be voted for.
   */
  validate(height: bigint, payload: Uint8Array, now: number): boolean;
}

/** Signing by this validator and checking of others, over the bytes the core lays out. */
export interface ConsensusCrypto {
  sign(message: Uint8Array): Uint8Array;
  verify(from: number, message: Uint8Array, sig: Uint8Array): boolean;
}

export type TimerName = 'progress' | 'status';

export type Effect =
  | { readonly kind: 'persist'; readonly state: SafetyState }
  | { readonly kind: 'broadcast'; readonly msg: ConsensusMessage }
  | { readonly kind: 'send'; readonly to: number; readonly msg: ConsensusMessage }
  | { readonly kind: 'commit'; readonly payload: Uint8Array; readonly cert: Certificate }
  | { readonly kind: 'set-timer'; readonly name: TimerName; readonly ms: number }
  | { readonly kind: 'clear-timer'; readonly name: TimerName }
  | { readonly kind: 'sync'; readonly height: bigint; readonly peers: readonly number[] }
  | { readonly kind: 'fault'; readonly from: number; readonly reason: string };

export type Input =
  | { readonly kind: 'start' }
  | { readonly kind: 'message'; readonly msg: ConsensusMessage }
  | { readonly kind: 'timer'; readonly name: TimerName }
  /** The mempool now holds `count` executable transactions. */
  | { readonly kind: 'pending'; readonly count: number }
  /** A block fetched by catch-up, with its certificate; checked here before it is committed. */
  | { readonly kind: 'certified'; readonly payload: Uint8Array; readonly cert: Certificate };
