import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from '../../test/process.js';
import { MODELS, offsets } from './models.js';
import { decodeRegisters, encodeRegisters } from '../modbus/registers.js';

interface SpecPoint {
  name: string;
  type: string;
  size?: number;
  sf?: string;
  units?: string;
  access?: string;
}

describe('standards/sunspec: our model definitions match the official SunSpec models', () => {
  for (const [id, model] of MODELS) {
    it(`model ${id} (${model.name}): every point at its offset with its type, size, scale factor and access`, () => {
      const spec = JSON.parse(readFileSync(path.join(ROOT, '..', 'shared', 'specs', 'sunspec', 'json', `model_${id}.json`), 'utf8')) as { group: { name: string; points: SpecPoint[] } };
      assert.equal(spec.group.name, model.name);
      const specOffsets = new Map<number, SpecPoint>();
      let o = 0;
      for (const sp of spec.group.points) {
        specOffsets.set(o, sp);
        o += sp.size ?? 1;
      }
      assert.equal(model.length, o - 2, 'declared length');
      for (const [name, { offset, def }] of offsets(model)) {
        const sp = specOffsets.get(offset);
        assert.ok(sp, `${name}: nothing at offset ${offset}`);
        assert.equal(sp.name, name, `offset ${offset}`);
        assert.equal(sp.type, def.type, name);
        assert.equal(sp.size ?? 1, def.size, name);
        assert.equal(sp.sf, def.sf, name);
        assert.equal(sp.access === 'RW', def.writable === true, `${name} access`);
      }
    });
  }
});

describe('standards/modbus: register codec', () => {
  it('round-trips every type in both word orders and refuses values that do not fit', () => {
    for (const [v, t] of [[-2, 'int16'], [65000, 'uint16'], [-123456, 'int32'], [4000000000, 'uint32'], [1.5, 'float32']] as const) {
      for (const order of ['big', 'little'] as const) assert.equal(decodeRegisters(encodeRegisters(v, t, order), t, order), v);
    }
    assert.deepEqual(encodeRegisters(0x12345678, 'uint32', 'big'), [0x1234, 0x5678]);
    assert.deepEqual(encodeRegisters(0x12345678, 'uint32', 'little'), [0x5678, 0x1234]);
    assert.throws(() => encodeRegisters(70000, 'uint16'), RangeError);
    assert.throws(() => encodeRegisters(1.5, 'int32'), RangeError);
    assert.throws(() => encodeRegisters(Number.NaN, 'float32'), RangeError);
  });
});
