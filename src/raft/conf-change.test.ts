import { describe, expect, it } from 'vitest';
import { CorruptionError, nodeId } from '../util/index.js';
import { applyToConfState, checkConfChange, decodeConfChange, encodeConfChange } from './conf-change.js';
import type { ConfChange } from './types.js';

const change = (type: ConfChange['type'], id: string, context = new Uint8Array()): ConfChange => ({ type, nodeId: nodeId(id), context });
const conf = { voters: [nodeId('n1'), nodeId('n2')], learners: [nodeId('n3')] };

describe('configuration changes', () => {
  it('round-trips through the binary encoding', () => {
    // Proves decode(encode(c)) === c for every change type, with unicode ids and a context.
    for (const type of ['addVoter', 'addLearner', 'removeNode'] as const) {
      const c = change(type, 'nœud-7', new Uint8Array([0, 255, 7]));
      expect(decodeConfChange(encodeConfChange(c))).toEqual(c);
    }
  });

  it('rejects malformed bytes with CorruptionError', () => {
    // Proves truncated, extended or unknown-version data is reported, not misread.
    const good = encodeConfChange(change('addVoter', 'n4', new Uint8Array([1])));
    const bad = [good.slice(0, 5), good.slice(0, good.length - 1), new Uint8Array([...good, 0]), Uint8Array.from([9, ...good.slice(1)]), Uint8Array.from([1, 7, ...good.slice(2)])];
    for (const data of bad) expect(() => decodeConfChange(data)).toThrow(CorruptionError);
  });

  it('validates single-server changes', () => {
    // Proves the validation rules documented on checkConfChange.
    expect(checkConfChange(conf, change('addVoter', 'n4'))).toBeNull();
    expect(checkConfChange(conf, change('addVoter', 'n3'))).toBeNull();
    expect(checkConfChange(conf, change('addVoter', 'n1'))).toMatch(/already a voter/);
    expect(checkConfChange(conf, change('addLearner', 'n3'))).toMatch(/already a learner/);
    expect(checkConfChange(conf, change('addLearner', 'n2'))).toMatch(/demoting/);
    expect(checkConfChange(conf, change('removeNode', 'n9'))).toMatch(/not a member/);
    expect(checkConfChange({ voters: [nodeId('n1')], learners: [] }, change('removeNode', 'n1'))).toMatch(/last voter/);
    expect(checkConfChange(conf, change('addVoter', ''))).toMatch(/empty/);
  });

  it('applies changes keeping lists sorted and disjoint', () => {
    // Proves promotion moves a learner into the voters, and removal works on both lists.
    expect(applyToConfState(conf, change('addVoter', 'n3'))).toEqual({ voters: ['n1', 'n2', 'n3'], learners: [] });
    expect(applyToConfState(conf, change('addLearner', 'n0'))).toEqual({ voters: ['n1', 'n2'], learners: ['n0', 'n3'] });
    expect(applyToConfState(conf, change('removeNode', 'n1'))).toEqual({ voters: ['n2'], learners: ['n3'] });
    expect(applyToConfState(conf, change('removeNode', 'n3'))).toEqual({ voters: ['n1', 'n2'], learners: [] });
  });
});
