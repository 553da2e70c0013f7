/** Generates docs/errors.md from the error registry in core-chain/errors.ts. */
import { ERROR_CODES, type ErrorSpec } from '../../core-chain/errors.ts';
import type { GeneratedFile } from '../gen.ts';

export async function generate(): Promise<GeneratedFile[]> {
  const rows = Object.entries(ERROR_CODES as Record<string, ErrorSpec>).map(
    ([code, spec]) => `| \`${code}\` | ${spec.status} | ${spec.phase} | ${spec.summary.replaceAll('|', '\\|')} |`,
  );
  const content = [
    '<!-- Generated from core-chain/errors.ts by `npm run gen`. Do not edit by hand. -->',
    '# Error codes',
    '',
    'Every error Loulan returns carries one of these stable codes. HTTP callers receive an',
    '[RFC 9457](https://www.rfc-editor.org/rfc/rfc9457) problem document:',
    '',
    '```json',
    '{ "type": "urn:loulan:error:VALIDATE_REQUIRED", "title": "VALIDATE_REQUIRED", "status": 400,',
    '  "code": "VALIDATE_REQUIRED", "detail": "missing required field", "pointer": "/data/amount" }',
    '```',
    '',
    'Match on `code` (and on fields such as `pointer`), never on `detail` text. Codes are never renamed',
    'or reused.',
    '',
    '| code | HTTP | phase | when |',
    '| --- | --- | --- | --- |',
    ...rows,
    '',
  ].join('\n');
  return [{ path: 'docs/errors.md', content }];
}
