/**
 * One error type for the whole project.
 *
 * Every failure that crosses a module boundary is a `LoulanError` whose `code` is a stable string
 * declared exactly once, in `ERROR_CODES` below, together with the HTTP status it maps to when it
 * reaches HTTP and the phase that failed (validate, route, deliver, prove, commit, ...). Callers and
 * tests branch on `code` and `details`, never on message text. `docs/errors.md` is generated from this
 * table (`npm run gen`) and the test command fails when the two drift apart.
 *
 * Codes are grouped by phase; a new code goes into the group of the phase that fails. Never rename or
 * reuse a code: clients match on it.
 */

export type Phase =
  | 'internal'
  | 'config'
  | 'codec'
  | 'crypto'
  | 'validate'
  | 'route'
  | 'deliver'
  | 'prove'
  | 'commit'
  | 'consensus'
  | 'storage'
  | 'network';

export interface ErrorSpec {
  /** HTTP status when the error reaches an HTTP caller. */
  readonly status: number;
  readonly phase: Phase;
  /** One line for docs/errors.md: when this code is raised. */
  readonly summary: string;
}

export const ERROR_CODES = {
  // -- internal / config ------------------------------------------------------------------------
  INTERNAL: { status: 500, phase: 'internal', summary: 'An unexpected failure; details are logged, never returned to the caller.' },
  CONFIG_INVALID: { status: 500, phase: 'config', summary: 'A configuration file or option is missing, malformed or inconsistent; `details.field` names it.' },
  CLI_USAGE: { status: 400, phase: 'config', summary: 'The command line names an unknown command or option, or misses a required one.' },

  // -- codec: canonical JSON and the fixed binary layout -------------------------------------------
  CODEC_TRUNCATED: { status: 400, phase: 'codec', summary: 'A binary structure ended before all of its fields were read.' },
  CODEC_TRAILING_BYTES: { status: 400, phase: 'codec', summary: 'A binary structure was followed by bytes that belong to no field.' },
  CODEC_LENGTH: { status: 400, phase: 'codec', summary: 'A fixed-size field has the wrong length, or a variable-size field exceeds its limit.' },
  CODEC_RANGE: { status: 400, phase: 'codec', summary: 'An integer is negative, not an integer, or does not fit its declared width.' },
  CODEC_UTF8: { status: 400, phase: 'codec', summary: 'A string field is not well-formed UTF-8 (or holds a lone surrogate).' },
  CODEC_NOT_CANONICAL: { status: 400, phase: 'codec', summary: 'A value cannot be canonically encoded (RFC 8785): NaN, Infinity, undefined, a function, symbol or bigint, a non-plain object, a lone surrogate, a cycle, a sparse array, or nesting too deep; `details.pointer` and `details.reason` say where and why.' },
  CODEC_TAG: { status: 400, phase: 'codec', summary: 'A binary structure carries an unknown type tag or version byte.' },
  CODEC_ENCODING: { status: 400, phase: 'codec', summary: 'A hex or base64url string has a character outside its alphabet, an impossible length, padding, or non-zero trailing bits.' },

  // -- crypto: keys, signatures, hashes, Merkle proofs -----------------------------------------------
  CRYPTO_UNKNOWN_ALG: { status: 400, phase: 'crypto', summary: 'The signature or key algorithm is not one of Ed25519, ES256 (P-256) or ES256K (secp256k1).' },
  CRYPTO_BAD_KEY: { status: 400, phase: 'crypto', summary: 'A key cannot be parsed, is on the wrong curve, or does not match the declared algorithm.' },
  CRYPTO_MALFORMED_SIGNATURE: { status: 400, phase: 'crypto', summary: 'A signature has the wrong length or encoding, a zero or out-of-range component, a high S value, or a bad recovery id.' },
  CRYPTO_SIGNATURE_INVALID: { status: 401, phase: 'crypto', summary: 'A well-formed signature does not verify under the named key.' },
  CRYPTO_UNKNOWN_KEY: { status: 401, phase: 'crypto', summary: 'No key is registered under the signature\'s `kid`; `details.kid` names it.' },
  MERKLE_INDEX_RANGE: { status: 400, phase: 'prove', summary: 'A Merkle leaf index is outside the tree.' },
  MERKLE_BAD_PROOF: { status: 400, phase: 'prove', summary: 'A Merkle inclusion proof has the wrong length, or does not lead to the expected root.' },

  // -- prove: sparse Merkle (state) proofs ----------------------------------------------------------
  PROOF_BAD_DEPTH: { status: 400, phase: 'prove', summary: 'A state proof has more than 256 siblings, or a depth the compressed tree cannot produce (a ZERO deepest sibling, an empty end with no siblings); `details.reason` says which.' },
  PROOF_LEAF_MISMATCH: { status: 400, phase: 'prove', summary: 'A state proof ends in no leaf or another key\'s leaf where inclusion was claimed, or (non-inclusion) in a leaf off the key\'s path.' },
  PROOF_VALUE_MISMATCH: { status: 400, phase: 'prove', summary: 'A state inclusion proof ends in the key\'s leaf, but that leaf commits to another value hash.' },
  PROOF_KEY_PRESENT: { status: 400, phase: 'prove', summary: 'A state non-inclusion proof ends in the leaf of the very key claimed absent.' },
  PROOF_ROOT_MISMATCH: { status: 400, phase: 'prove', summary: 'A well-formed state proof does not hash up to the expected root.' },
  PROOF_ZERO_ROOT: { status: 400, phase: 'prove', summary: 'A proof is checked against an all-zero root: no tree commits to anything under it.' },

  // -- prove: light verification of headers, certificates and validator-set changes (core-chain/verify) --
  CERT_WRONG_CHAIN: { status: 400, phase: 'prove', summary: 'The header belongs to another chain: its chainId is not the trusted set\'s.' },
  CERT_WRONG_VALIDATOR_SET: { status: 400, phase: 'prove', summary: 'The header names another validator set than the one trusted for its height (`details.expected`, `details.actual`).' },
  CERT_WRONG_BLOCK: { status: 400, phase: 'prove', summary: 'The certificate is for another height or another block hash than the header\'s; `details.field` says which.' },
  CERT_TOO_FEW_SIGNERS: { status: 400, phase: 'prove', summary: 'The certificate carries fewer signatures than the quorum ceil((n+f+1)/2) of the set; `details.have` and `details.need`.' },
  CERT_SIGNERS_UNSORTED: { status: 400, phase: 'prove', summary: 'Certificate signer indexes are not strictly increasing (unsorted or duplicated); `details.signer` is the first out of order.' },
  CERT_NON_MEMBER: { status: 400, phase: 'prove', summary: 'A certificate signer index is not a member of the validator set (not below n); `details.signer` names it.' },
  CERT_BAD_SIGNATURE: { status: 400, phase: 'prove', summary: 'A well-formed certificate signature does not recover the key of the validator in its slot; `details.signer` names the slot.' },
  HEADER_CHAIN_GAP: { status: 400, phase: 'prove', summary: 'A header in a chain is not at the height after the previous one; `details.expected` and `details.actual`.' },
  HEADER_CHAIN_BROKEN: { status: 400, phase: 'prove', summary: 'A header\'s prevHash is not the block hash of the header before it; `details.height` names it.' },
  VALSET_MISMATCH: { status: 400, phase: 'prove', summary: 'A header announces a validator-set change, but the next set it carries is missing or does not hash to its nextValidatorSetHash; `details.height` names it.' },
  VALSET_INVALID: { status: 400, phase: 'prove', summary: 'A validator set handed to the verifier is empty, too large, has a key that is not 33 bytes, or a chainId that is not 32 bytes; `details.field` names it.' },

  // -- prove: message anchors (a message digest in a batch anchored by the xmsg contract; core-chain/verify/anchor.ts) --
  ANCHOR_WRONG_EVENT: { status: 400, phase: 'prove', summary: 'The proven event is not an `anchored` event of the `xmsg` contract; `details.contract` and `details.type` say what it is.' },
  ANCHOR_WRONG_BATCH: { status: 400, phase: 'prove', summary: 'The anchored event names another switch or batch than the one expected; `details.field` (switchId or batchSeq), `details.expected`, `details.actual`.' },
  ANCHOR_LEAF_NOT_IN_BATCH: { status: 400, phase: 'prove', summary: 'The message leaf is not in the anchored batch: its index is outside the batch (`details.reason` index), a path hash is not 32 bytes (hash-length), the path has the wrong length (length), or it leads to another root (root).' },

  // -- prove: certified decisions executed on outside systems (relayers/decision.ts) --------------------
  DECISION_MALFORMED: { status: 400, phase: 'prove', summary: 'Decision data is not the canonical ABI envelope, or has an unknown version or action; `details.field` names the failing field.' },
  DECISION_WRONG_EVENT: { status: 400, phase: 'prove', summary: 'The proven event is not a `decision` event of the `xfer` contract; `details.contract` and `details.type` say what it is.' },
  DECISION_WRONG_TARGET: { status: 400, phase: 'prove', summary: 'The decision is addressed to another system than the one executing it (`details.expected`, `details.actual`).' },
  DECISION_CONSUMED: { status: 409, phase: 'prove', summary: 'The decision id has been executed before; each certified decision runs exactly once (`details.decisionId`).' },
  DECISION_EXPIRED: { status: 400, phase: 'prove', summary: 'The decision\'s deadline is earlier than the time of the header that certifies it (`details.deadline`, `details.time`).' },
  DECISION_ARGS: { status: 400, phase: 'prove', summary: 'The action-specific arguments of a decision do not decode for its action and target kind, or name something that does not exist or is in the wrong state; `details.field` names it.' },

  // -- prove: evidence out of an EVM chain (relayers/evm) ------------------------------------------------
  EVM_HEADER_MISMATCH: { status: 400, phase: 'prove', summary: 'The EVM block header in the evidence is not the block claimed: another chain id, a keccak-256 other than `blockHash`, another number, or not an RLP header; `details.field` names it.' },
  EVM_PROOF_INVALID: { status: 400, phase: 'prove', summary: 'The receipt is not under the header\'s receiptsRoot at key rlp(txIndex): a trie node with the wrong hash, an undecodable node, a path that ends elsewhere, or another value; `details.reason` and `details.node` say where.' },
  EVM_LOG_MISMATCH: { status: 400, phase: 'prove', summary: 'The proven receipt does not decode, has no log at `logIndex`, or its log differs from the expected one; `details.field` names it (receipt, logIndex, address, topics, data).' },
  EVM_NOTARY_THRESHOLD: { status: 400, phase: 'prove', summary: 'Fewer than k distinct registered notaries attest the block (chainId, number, hash); unknown, duplicate, wrong-algorithm and non-verifying attestations do not count (`details.have`, `details.need`, `details.ignored`).' },

  // -- prove: evidence out of a Fabric network (relayers/fabric) -----------------------------------------
  FABRIC_BAD_ENDORSEMENT: { status: 400, phase: 'prove', summary: 'Fabric evidence is malformed or an endorsement signature does not verify over proposal_response_payload ‖ endorser (tampered payload, high-S or foreign signature); `details.index` names the endorsement, `details.field` the malformed part.' },
  FABRIC_UNKNOWN_CA: { status: 400, phase: 'prove', summary: 'An endorser names an MSP that is not registered (`details.reason` unknown-msp), or its certificate was not issued and signed by one of that MSP\'s registered root certificates (not-issued-by-root); `details.mspId`, `details.index`.' },
  FABRIC_POLICY_UNMET: { status: 400, phase: 'prove', summary: 'The valid endorsements, each distinct signer counted once, do not satisfy the endorsement policy; `details.policy` and `details.endorsers` (mspId.role of each).' },
  FABRIC_EVENT_MISMATCH: { status: 400, phase: 'prove', summary: 'The endorsed ChaincodeAction is not the one claimed: another channel, transaction id, chaincode, event name or payload, a failed chaincode response, or a proposal hash that does not bind the header; for confirmation evidence also another query function or arguments, a response other than 200, or a read/write set with writes (`details.field` function, args, response, writes); `details.field` names it.' },
  FABRIC_RESULT_MISMATCH: { status: 400, phase: 'prove', summary: 'Confirmation evidence is valid (endorsed under the policy, the claimed read-only query) but its result is not the expected one: the committed state the endorsers read does not show the claimed effect (a transaction that lost an MVCC race, or is not committed yet); `details.field` result, `details.actual` (base64url).' },

  // -- validate: schemas and envelopes ---------------------------------------------------------------
  VALIDATE_UNKNOWN_TYPE: { status: 400, phase: 'validate', summary: 'The envelope `type` names no registered payload schema; `details.pointer` is `/type`.' },
  VALIDATE_REQUIRED: { status: 400, phase: 'validate', summary: 'A required field is missing; `details.pointer` is where it should be.' },
  VALIDATE_UNKNOWN_FIELD: { status: 400, phase: 'validate', summary: 'A field that the schema does not declare is present (`additionalProperties: false`).' },
  VALIDATE_TYPE: { status: 400, phase: 'validate', summary: 'A field has the wrong JSON type.' },
  VALIDATE_FORMAT: { status: 400, phase: 'validate', summary: 'A string field does not match its pattern or format (date-time, decimal amount, address, ...).' },
  VALIDATE_ENUM: { status: 400, phase: 'validate', summary: 'A field holds a value outside its enumeration or constant.' },
  VALIDATE_RANGE: { status: 400, phase: 'validate', summary: 'A field is too long, too short, too large, too small, or a list has too many or too few items.' },
  VALIDATE_CONSTRAINT: { status: 400, phase: 'validate', summary: 'A cross-field rule of the schema fails (oneOf, dependent fields, conditionals).' },
  VALIDATE_TOO_LARGE: { status: 413, phase: 'validate', summary: 'The input exceeds its size or nesting-depth limit.' },

  // -- storage: the safety record and the block store ------------------------------------------------
  SAFETY_RECORD_CORRUPT: { status: 500, phase: 'storage', summary: 'The validator safety record (last-signed guard) fails its magic, version, length or checksum check, or does not decode; `details.path` names the file. The validator must not start: a reset could make it sign twice.' },
  STORE_CORRUPT: { status: 500, phase: 'storage', summary: 'A value read from the block store does not decode, or the store was written by an unknown format version; `details.key` names it.' },
  STORE_LOCKED: { status: 500, phase: 'storage', summary: 'The block store directory is held by another process (LevelDB LOCK); `details.dir` names it.' },
  STORE_COMMIT_INVALID: { status: 500, phase: 'storage', summary: 'A block commit or snapshot install is inconsistent with the store: not the next height, certificate for another height or hash, or malformed hashes or state keys; `details.reason` says which.' },
  SNAPSHOT_INVALID: { status: 400, phase: 'storage', summary: 'A state-snapshot chunk stream is malformed, out of order, for an unexpected height, or its entry count or digest does not match; `details.reason` says which.' },
  SNAPSHOT_TOO_LARGE: { status: 413, phase: 'storage', summary: 'A state-snapshot chunk, or the snapshot as a whole, exceeds the receiver\'s size limit.' },

  // -- network: validator-to-validator links --------------------------------------------------------
  NODE_SYNCING: { status: 503, phase: 'network', summary: 'The node is installing a state snapshot and takes no transactions until it is done; submit to another validator or retry shortly.' },
  NODE_NOT_CONNECTED: { status: 503, phase: 'network', summary: 'The node has no link to any other validator (starting, cut off, or removed from the set): a transaction it accepted could not be ordered, so it refuses it; submit to another validator.' },
  P2P_LISTEN_FAILED: { status: 500, phase: 'network', summary: 'The validator transport cannot listen on its configured address (in use, not permitted); `details.host` and `details.port` name it.' },
  P2P_HANDSHAKE_REJECTED: { status: 401, phase: 'network', summary: 'A peer link failed the validator handshake and was closed: wrong version or chain, an unknown, own or unexpected index, a bad or replayed signature, a timeout, or too many pending handshakes; `details.reason` says which.' },
  P2P_PROTOCOL_VIOLATION: { status: 400, phase: 'network', summary: 'A peer sent a text frame, an empty frame, a frame over the size limit, or a malformed WebSocket frame, and the link was closed; `details.reason` says which.' },
  P2P_FRAME_TOO_LARGE: { status: 413, phase: 'network', summary: 'A frame handed to the transport exceeds `maxFrameBytes`; it is dropped rather than sent, since the peer would close the link.' },

  // -- ledger: transactions, blocks, execution, mempool, native contracts ------------------------------
  LEDGER_TX_INVALID: { status: 400, phase: 'validate', summary: 'A transaction field breaks a ledger rule (nonce 0, a contract or method name outside its alphabet); `details.field` names it.' },
  LEDGER_WRONG_CHAIN: { status: 400, phase: 'validate', summary: 'A transaction is signed for another chain: its `chainId` is not this chain\'s.' },
  LEDGER_NONCE_STALE: { status: 409, phase: 'validate', summary: 'A transaction\'s nonce is not above its sender\'s committed nonce: that nonce is already used; `details.nonce` and `details.committed` say which.' },
  LEDGER_NONCE_GAP: { status: 409, phase: 'validate', summary: 'A transaction\'s nonce skips ahead: in a block it is not the sender\'s committed nonce + 1; in the mempool it is further ahead than the per-sender limit.' },
  LEDGER_UNKNOWN_CONTRACT: { status: 400, phase: 'validate', summary: 'A transaction names no installed contract; `details.contract` names it. In a block the transaction fails but its nonce is consumed.' },
  LEDGER_BLOCK_INVALID: { status: 400, phase: 'consensus', summary: 'A proposed block fails validation; `details.reason` names the check (height, prevHash, time, proposer, txRoot, eventsRoot, stateRoot, ...) and `details.index` the transaction when one is at fault.' },
  LEDGER_DIVERGED: { status: 500, phase: 'commit', summary: 'A certified block does not extend the local tip or does not execute to its header\'s roots: this replica\'s state machine disagrees with the quorum and must stop.' },
  LEDGER_GENESIS_INVALID: { status: 500, phase: 'config', summary: 'The genesis document is malformed or inconsistent; `details.field` names the field (a JSON pointer).' },
  MEMPOOL_FULL: { status: 503, phase: 'validate', summary: 'The mempool holds its maximum number of transactions or bytes; retry later.' },
  MEMPOOL_SENDER_LIMIT: { status: 429, phase: 'validate', summary: 'The sender already has the maximum number of pending transactions in the mempool.' },
  MEMPOOL_NONCE_TAKEN: { status: 409, phase: 'validate', summary: 'Another transaction with the same sender and nonce is already pending; the mempool never replaces one.' },
  CONTRACT_UNKNOWN_METHOD: { status: 400, phase: 'validate', summary: 'The contract has no method of that name; `details.contract` and `details.method` name them.' },
  CONTRACT_BAD_ARGS: { status: 400, phase: 'validate', summary: 'A contract call\'s arguments do not decode or break the method\'s rules (an amount of zero, say); `details.field` names the argument.' },
  CONTRACT_UNAUTHORIZED: { status: 403, phase: 'validate', summary: 'The transaction\'s sender may not call this method (minting by anyone but the issuer, say).' },
  CONTRACT_INSUFFICIENT_FUNDS: { status: 409, phase: 'validate', summary: 'The sender\'s balance is below the amount it tries to move.' },
  CONTRACT_WRONG_STATE: { status: 409, phase: 'validate', summary: 'The record is in a state that does not allow the call (a receivable piece that is locked, pooled, split or not yet confirmed); `details.kind`, `details.id` and `details.status` say which.' },
  CONTRACT_STATE_LIMIT: { status: 400, phase: 'validate', summary: 'A contract tried to write a state key or value beyond its size limit, or an amount beyond its fixed width.' },
  CONTRACT_FORBIDDEN: { status: 403, phase: 'validate', summary: 'The sender is not a registered participant, its participant is suspended, its key is revoked, or it holds none of the roles the method requires; `details.sender`, `details.contract`, `details.method`, `details.required` and `details.reason` say which.' },
  CONTRACT_NOT_FOUND: { status: 404, phase: 'validate', summary: 'A call names a record that does not exist (participant, key, outside system, proposal, validator); `details.kind` and `details.id` name it.' },
  CONTRACT_ALREADY_EXISTS: { status: 409, phase: 'validate', summary: 'A call would create a record that already exists (participant id, key, outside system id, validator); `details.kind` and `details.id` name it.' },
  REGISTRY_LAST_KEY: { status: 409, phase: 'validate', summary: 'Revoking this key would leave the participant without an active key; add the new key first.' },
  GOVERNANCE_NOT_MEMBER: { status: 403, phase: 'validate', summary: 'The voter is not a current validator (never was, or was removed): only current validator keys vote on proposals.' },
  GOVERNANCE_DUPLICATE_VOTE: { status: 409, phase: 'validate', summary: 'This validator already approved the proposal; a vote counts once.' },
  CONTRACT_CONFLICT: { status: 409, phase: 'validate', summary: 'A call repeats an idempotency key with other content (a message id delivered with another digest, a schema version registered with another hash); `details.kind` and `details.id` name it. The first content stays.' },
  CONTRACT_DUPLICATE_APPROVAL: { status: 409, phase: 'validate', summary: 'The sender\'s participant already approved this change; an approval counts once per participant, whichever of its keys signs; `details.change` and `details.participant`.' },
  CONTRACT_CHANGE_APPLIED: { status: 409, phase: 'validate', summary: 'The change was already applied; it takes no more approvals; `details.change` names it.' },
  CONTRACT_CHANGE_EXPIRED: { status: 409, phase: 'validate', summary: 'The change expired (block time reached its `expiresAt`) before it gathered enough approvals; propose it again; `details.change` and `details.expiresAt`.' },
  GOVERNANCE_PROPOSAL_CLOSED: { status: 409, phase: 'validate', summary: 'The proposal has already passed; no more votes are taken.' },
  GOVERNANCE_PROPOSAL_EXPIRED: { status: 409, phase: 'validate', summary: 'The proposal expired (block time reached its `expiresAt`) before it passed.' },
  GOVERNANCE_CHANGE_PENDING: { status: 409, phase: 'validate', summary: 'A validator-set change is already scheduled; another can pass only after it has taken effect.' },
  GOVERNANCE_MIN_VALIDATORS: { status: 409, phase: 'validate', summary: 'Removing this validator would leave fewer than 4 validators.' },

  // -- switch: intake (checked in this order; a rejected message leaves no trace) ------------------------
  INTAKE_MALFORMED: { status: 400, phase: 'validate', summary: 'The request body is not a JSON envelope or batch (`{messages: [...], sig?}`), or a batch is empty or over its item limit; `details.pointer` names the field.' },
  INTAKE_SCHEMA_NOT_REGISTERED: { status: 422, phase: 'validate', summary: 'The payload schema for the envelope `type` is not registered on the core chain in the version this switch validates with; `details.schemaId` names it.' },
  INTAKE_UNKNOWN_SOURCE: { status: 401, phase: 'validate', summary: 'The envelope `source` is not an active participant on the core chain; `details.source` names it.' },
  INTAKE_KEY_NOT_OF_SOURCE: { status: 401, phase: 'validate', summary: 'The signature\'s `kid` names a key that is not an active key of the envelope `source` (another participant\'s, revoked, or suspended); `details.kid` names it.' },
  INTAKE_FORBIDDEN: { status: 403, phase: 'validate', summary: 'The source holds none of the roles that may send this message `type`; `details.required` lists them.' },
  INTAKE_SEQ_REPLAY: { status: 409, phase: 'validate', summary: 'The channel (`source`, `to`) already accepted another message with this `seq`; `details.seq` names it.' },
  INTAKE_SEQ_TOO_OLD: { status: 409, phase: 'validate', summary: 'The `seq` is below the channel\'s anti-replay window (the highest accepted `seq` minus the window size), so it can no longer be checked for replay; `details.highest` and `details.window` say where the window starts.' },
  INTAKE_EXPIRED: { status: 422, phase: 'validate', summary: 'The envelope `expiresAt` is not after the switch\'s clock: the deadline has passed.' },
  INTAKE_CLOCK_SKEW: { status: 422, phase: 'validate', summary: 'The envelope `time` is further in the future than the allowed clock skew, or after its own `expiresAt`.' },
  INTAKE_ID_CONFLICT: { status: 409, phase: 'validate', summary: 'The source already sent a different message under this `id`; the same id with the same content returns the original result instead.' },
  INTAKE_VALUE_CAP: { status: 429, phase: 'validate', summary: 'Accepting the message would move more value than the per-participant or per-route cap allows in the current window; `details.scope`, `details.cap` and `details.windowMs` say which.' },
  INTAKE_OVERLOADED: { status: 503, phase: 'validate', summary: 'The switch\'s intake queue or store is saturated; retry after the `Retry-After` delay.' },
  MESSAGE_NOT_FOUND: { status: 404, phase: 'route', summary: 'No message with this id is known to the switch (for this source, when given); `details.id` names it.' },
  MESSAGE_NOT_ANCHORED: { status: 409, phase: 'prove', summary: 'The message has not been anchored on the core chain yet; retry once its anchor batch is committed.' },
  APPROVAL_NOT_PENDING: { status: 409, phase: 'validate', summary: 'The message is not waiting for an operator\'s approval (never was, already approved, rejected or expired).' },
  SWITCH_UNAUTHORIZED: { status: 401, phase: 'validate', summary: 'An operator request lacks a valid operator token (`Authorization: Bearer ...`).' },
  SWITCH_STORE_FAILED: { status: 503, phase: 'storage', summary: 'The switch could not write to its store; nothing was acknowledged.' },

  // -- switch: key custody (switch/custody.ts) -------------------------------------------------------
  CUSTODY_DISABLED: { status: 404, phase: 'validate', summary: 'This switch holds no custodial keys (its configuration has no `custody` section).' },
  CUSTODY_UNAUTHORIZED: { status: 401, phase: 'validate', summary: 'The API key is missing, malformed, unknown or revoked (one answer for all four).' },
  CUSTODY_FORBIDDEN: { status: 403, phase: 'validate', summary: 'The API key belongs to another participant than the envelope\'s `source`; `details.pointer` is `/source`.' },
  CUSTODY_NOT_FOUND: { status: 404, phase: 'validate', summary: 'The switch holds no custodial key (or API key) by that name; `details.participant` names it.' },
  CUSTODY_EXISTS: { status: 409, phase: 'validate', summary: 'The switch already holds a custodial key for the participant; rotate it instead.' },
  CUSTODY_NO_ACTIVE_KEY: { status: 409, phase: 'validate', summary: 'None of the participant\'s custodial keys is active on the core chain (not registered yet, or all revoked), or the last key would be destroyed.' },
  CUSTODY_ROTATION_FAILED: { status: 502, phase: 'commit', summary: 'A key rotation\'s registry call (addKey or revokeKey) did not commit on the core chain; `details.tx` and `details.code` say which and why. Rotating again finishes the job.' },
  CUSTODY_SEALED: { status: 500, phase: 'config', summary: 'A custodial key does not decrypt with the switch\'s master key (wrong master key, or the key store was edited); nothing is signed.' },
  CUSTODY_LOG_BROKEN: { status: 500, phase: 'storage', summary: 'A line of the custodial signature log does not carry the hash of the line before it: a line was removed, edited or inserted; `details.line` names it.' },

  // -- switch: routing and delivery -------------------------------------------------------------------
  ROUTE_NOT_FOUND: { status: 404, phase: 'route', summary: 'No routing-table entry matches the address, and there is no default route; `details.address` names it.' },
  ROUTE_INVALID: { status: 400, phase: 'route', summary: 'A route entry or change is malformed (prefix, link, adapter target); `details.pointer` names the field.' },
  ROUTE_ADAPTER_UNAVAILABLE: { status: 503, phase: 'route', summary: 'The route\'s link names an adapter kind this switch does not run, or one it cannot configure; `details.kind` names it.' },
  DELIVER_FAILED: { status: 502, phase: 'deliver', summary: 'A delivery attempt failed in a way that may succeed later (connection error, timeout, 5xx, 408, 429); the message is retried.' },
  DELIVER_REJECTED: { status: 422, phase: 'deliver', summary: 'The destination refused the message for good (a 4xx other than 408/429, a contract refusal); it goes to the dead-letter queue.' },
  DELIVER_ID_CONFLICT: { status: 409, phase: 'deliver', summary: 'The destination already holds a different message under this (`source`, `id`) (a database inbox compares digests); the message is refused for good. `details.digest` and `details.existing` are the two digests.' },
  DELIVER_ATTEMPTS_EXHAUSTED: { status: 502, phase: 'deliver', summary: 'The route\'s retry policy ran out of attempts; the message is in the dead-letter queue with the last error.' },
  DELIVER_EXPIRED: { status: 410, phase: 'deliver', summary: 'The message passed its deadline (`expiresAt`) before it was delivered; it is not delivered, and the sender is told.' },
  DELIVER_NO_ROUTE: { status: 404, phase: 'deliver', summary: 'No route matched the message\'s destination when it was due; it goes to the dead-letter queue.' },
  DELIVER_CIRCUIT_OPEN: { status: 503, phase: 'deliver', summary: 'The link\'s circuit breaker is open after repeated failures; attempts resume after its cool-down.' },
  DELIVER_APPROVAL_REJECTED: { status: 403, phase: 'deliver', summary: 'An operator rejected the message held for approval; it is not delivered.' },
  DLQ_NOT_FOUND: { status: 404, phase: 'deliver', summary: 'No dead-lettered message has this id.' },
  DELIVER_SEQ_WAITING: { status: 409, phase: 'deliver', summary: 'History note: the message waits on an ordered channel until the message with an earlier `seq` (named in the detail) is delivered, dead or expired; a missing one is reported as a gap.' },
  MESSAGE_STUCK: { status: 504, phase: 'deliver', summary: 'Alert in a message\'s history: its status has not changed for longer than the switch\'s stuck-message threshold (held messages excepted); raised once per stall.' },

  // -- adapters: the shop-side database connector (adapters/db) ---------------------------------------
  WEBHOOK_REFUSED: { status: 400, phase: 'deliver', summary: 'The shop\'s connector refused a webhook: no, a malformed or a mismatched `Loulan-Signature`, a timestamp outside the window, or a body that is not an envelope; `details.reason` is the verifyWebhook reason. The switch dead-letters it.' },
  INBOX_UNAVAILABLE: { status: 503, phase: 'storage', summary: 'The shop\'s connector could not write the message into its database (connection lost, database down); nothing was written, and the switch retries after `Retry-After`.' },

  // -- evm adapter: deploying, submitting and watching on an EVM chain (adapters/evm) ---------------------
  EVM_ESTIMATE: { status: 422, phase: 'deliver', summary: 'Gas estimation failed before anything was sent: the call would revert (`details.reason` is the decoded error name or message), or estimate × margin exceeds the configured cap (`details.reason` is `gas-cap`). Nothing is on chain.' },
  EVM_SEND: { status: 502, phase: 'deliver', summary: 'The node did not accept the signed transaction (connection, fee, nonce); `details.txHash` and `details.nonce` name it. It may be resent as it is.' },
  EVM_REVERTED: { status: 422, phase: 'deliver', summary: 'The transaction was mined but reverted; `details.txHash`, `details.blockNumber` and, when it can be decoded, `details.reason` (custom error name or message).' },
  EVM_DROPPED: { status: 502, phase: 'deliver', summary: 'The transaction left the mempool without being mined (`details.reason` dropped, after rebroadcasts) or another transaction took its nonce (replaced); `details.txHash`, `details.nonce`.' },
  EVM_NOT_FINAL: { status: 409, phase: 'prove', summary: 'A notary was asked to attest a block that is not yet final at its confirmation depth, or is no longer canonical; `details.blockNumber`, `details.reason`.' },
  EVM_REORG_TOO_DEEP: { status: 500, phase: 'deliver', summary: 'The watcher found that none of the recent blocks its checkpoint remembers is still canonical: a reorganisation deeper than its window; an operator must decide where to resume.' },
  EVM_CHECKPOINT_INVALID: { status: 500, phase: 'storage', summary: 'A watcher checkpoint does not parse, has an unknown version, or belongs to another chain or contract set; `details.reason` says which.' },

  // -- fabric adapter: endorsing, submitting and watching through a Fabric Gateway (adapters/fabric) -------
  FABRIC_ENDORSE: { status: 502, phase: 'deliver', summary: 'The peers refused or failed the proposal (evaluate or endorse: chaincode error, endorsers that disagree, bad signature, unknown identity, unreachable peer), or an event stream broke; nothing was ordered, so it is safe to resend. `details.txId`, `details.grpcCode`, `details.operation` (evaluate, endorse, events), `details.peers`.' },
  FABRIC_SUBMIT: { status: 502, phase: 'deliver', summary: 'The endorsed transaction was not accepted for ordering; it is probably not on the ledger, but resend only the same signed transaction (`details.txId`).' },
  FABRIC_COMMIT_STATUS: { status: 504, phase: 'deliver', summary: 'The transaction was submitted but its commit status could not be read (timeout, connection); it may be on the ledger: ask again for `details.txId`, never endorse it anew.' },
  FABRIC_COMMIT: { status: 409, phase: 'commit', summary: 'The transaction was committed in a block but marked invalid by validation; `details.txId`, `details.blockNumber`, `details.validationCode` (e.g. MVCC_READ_CONFLICT, ENDORSEMENT_POLICY_FAILURE) and `details.code` (its number).' },

  // -- rpc: the validator's HTTP / WebSocket API and its client -------------------------------------
  RPC_ROUTE_NOT_FOUND: { status: 404, phase: 'route', summary: 'No RPC route matches the method and path (a path parameter longer than the router allows counts as no match).' },
  RPC_MALFORMED_REQUEST: { status: 400, phase: 'validate', summary: 'The request cannot be parsed before validation: a body that is not JSON, an empty JSON body, a bad Content-Length or URL; `details.reason` carries the server\'s own code.' },
  RPC_UNSUPPORTED_MEDIA_TYPE: { status: 415, phase: 'validate', summary: 'The request body has a Content-Type the route does not accept (`application/json`, and `application/octet-stream` where raw bytes are allowed).' },
  RPC_UPGRADE_REQUIRED: { status: 426, phase: 'validate', summary: 'A plain HTTP request reached a WebSocket-only route such as `/v1/subscribe`.' },
  RPC_BLOCK_NOT_FOUND: { status: 404, phase: 'storage', summary: 'The node holds no block at the requested height (above its tip, or pruned); `details.height` names it.' },
  RPC_EVENT_NOT_FOUND: { status: 404, phase: 'storage', summary: 'The block at the requested height exported no event at the requested index (or the node holds no such block); `details.id` names it.' },
  RPC_STATE_NOT_FOUND: { status: 404, phase: 'storage', summary: 'The committed state holds no value under the requested key; `details.key` names it.' },
  RPC_UNAVAILABLE: { status: 503, phase: 'network', summary: 'The client reached no node: every endpoint failed with a connection error or a timeout; `details.endpoints` lists those tried and `details.attempts` why each failed.' },
  RPC_BAD_RESPONSE: { status: 502, phase: 'network', summary: 'A node answered with something that is not the documented reply: not JSON, a field of the wrong shape, or a problem document with an unknown code; `details.endpoint` names the node.' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface LoulanErrorOptions {
  readonly details?: Readonly<Record<string, unknown>>;
  readonly cause?: unknown;
}

/** RFC 9457 problem document, as returned to HTTP callers. */
export interface ProblemDocument {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly code: ErrorCode;
  readonly detail: string;
  readonly instance?: string;
  readonly [extension: string]: unknown;
}

const PROBLEM_TYPE_BASE = 'urn:loulan:error:';

export class LoulanError extends Error {
  override readonly name = 'LoulanError';
  readonly code: ErrorCode;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, options: LoulanErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    if (!Object.hasOwn(ERROR_CODES, code)) throw new TypeError(`unregistered error code: ${String(code)}`);
    this.code = code;
    this.details = Object.freeze({ ...(options.details ?? {}) });
  }

  get status(): number {
    return ERROR_CODES[this.code].status;
  }

  get phase(): Phase {
    return ERROR_CODES[this.code].phase;
  }

  /**
   * The RFC 9457 body for an HTTP reply. Carries the code, message and details; never the stack or
   * the cause (which may hold internals). `INTERNAL` errors hide their message too.
   */
  toProblem(instance?: string): ProblemDocument {
    const internal = this.code === 'INTERNAL';
    const problem: ProblemDocument = {
      type: PROBLEM_TYPE_BASE + this.code,
      title: this.code,
      status: this.status,
      code: this.code,
      detail: internal ? 'internal error' : this.message,
      ...(internal ? {} : jsonSafe(this.details)),
      ...(instance === undefined ? {} : { instance }),
    };
    return problem;
  }
}

/**
 * The VALIDATE_* code for a failing JSON Schema keyword (ajv's `keyword`), so that every validator in
 * the project (message schemas, the node RPC, the switch API) names a failure the same way.
 */
export function validateCodeFor(keyword: string): ErrorCode {
  return CODE_BY_KEYWORD[keyword] ?? 'VALIDATE_CONSTRAINT';
}

const CODE_BY_KEYWORD: Readonly<Record<string, ErrorCode>> = {
  required: 'VALIDATE_REQUIRED',
  additionalProperties: 'VALIDATE_UNKNOWN_FIELD',
  unevaluatedProperties: 'VALIDATE_UNKNOWN_FIELD',
  type: 'VALIDATE_TYPE',
  pattern: 'VALIDATE_FORMAT',
  format: 'VALIDATE_FORMAT',
  enum: 'VALIDATE_ENUM',
  const: 'VALIDATE_ENUM',
  minLength: 'VALIDATE_RANGE',
  maxLength: 'VALIDATE_RANGE',
  minimum: 'VALIDATE_RANGE',
  maximum: 'VALIDATE_RANGE',
  exclusiveMinimum: 'VALIDATE_RANGE',
  exclusiveMaximum: 'VALIDATE_RANGE',
  multipleOf: 'VALIDATE_RANGE',
  minItems: 'VALIDATE_RANGE',
  maxItems: 'VALIDATE_RANGE',
  minProperties: 'VALIDATE_RANGE',
  maxProperties: 'VALIDATE_RANGE',
  minContains: 'VALIDATE_RANGE',
  maxContains: 'VALIDATE_RANGE',
};

/** One ajv error as an HTTP server reports it (fastify's validation errors have this shape). */
export interface SchemaValidationFailure {
  readonly keyword: string;
  readonly instancePath: string;
  readonly params: Record<string, unknown>;
  readonly message?: string | undefined;
}

const LOCATION: Readonly<Record<string, string>> = { body: 'body', params: 'path', querystring: 'query', headers: 'header' };

/**
 * A request-validation failure (fastify stops at the first) as its VALIDATE_* `LoulanError`, with
 * the JSON pointer of the field and where it was (`body`, `path`, `query`, `header`).
 */
export function requestValidationError(error: SchemaValidationFailure, context: string): LoulanError {
  let pointer = error.instancePath;
  if (error.keyword === 'required') pointer += '/' + pointerSegment(String(error.params['missingProperty']));
  if (error.keyword === 'additionalProperties') pointer += '/' + pointerSegment(String(error.params['additionalProperty']));
  const where = LOCATION[context] ?? context;
  return new LoulanError(validateCodeFor(error.keyword), `${where} ${pointer || '(root)'} ${error.message ?? 'is invalid'}`, {
    details: { pointer, in: where, keyword: error.keyword },
  });
}

function pointerSegment(key: string): string {
  return key.replaceAll('~', '~0').replaceAll('/', '~1');
}

export function isLoulanError(value: unknown): value is LoulanError {
  return value instanceof LoulanError;
}

/** Wraps anything thrown into a LoulanError, keeping LoulanErrors as they are. */
export function asLoulanError(value: unknown): LoulanError {
  if (value instanceof LoulanError) return value;
  return new LoulanError('INTERNAL', value instanceof Error ? value.message : String(value), { cause: value });
}

// Details may hold bigints and byte arrays; a problem document is JSON.
function jsonSafe(details: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(details)) {
    if (key === 'type' || key === 'title' || key === 'status' || key === 'code' || key === 'detail') continue;
    out[key] = typeof value === 'bigint' ? value.toString() : value instanceof Uint8Array ? Buffer.from(value).toString('hex') : value;
  }
  return out;
}
