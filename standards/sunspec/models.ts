/**
 * SunSpec information models, as far as gridflex reads and writes them: our own definitions of the points
 * we use, in register order, written from the SunSpec model specifications (a test checks every offset, type
 * and scale factor against the official JSON models in ../shared/specs/sunspec). Offsets count from the
 * model's ID register; `L` is the length after the ID and L registers.
 */
export type PointType = 'uint16' | 'int16' | 'uint32' | 'int32' | 'acc32' | 'enum16' | 'bitfield16' | 'sunssf' | 'string' | 'pad';

export interface PointDef {
  name: string;
  type: PointType;
  /** Registers. */
  size: number;
  /** The scale-factor point of this point. */
  sf?: string;
  units?: string;
  writable?: boolean;
}

export interface ModelDef {
  id: number;
  name: string;
  /** Declared length (registers after ID and L). */
  length: number;
  points: PointDef[];
}

const p = (name: string, type: PointType, size = 1, sf?: string, units?: string, writable = false): PointDef => ({
  name,
  type,
  size,
  ...(sf ? { sf } : {}),
  ...(units ? { units } : {}),
  ...(writable ? { writable } : {}),
});
const head = [p('ID', 'uint16'), p('L', 'uint16')];

const common: ModelDef = {
  id: 1,
  name: 'common',
  length: 66,
  points: [...head, p('Mn', 'string', 16), p('Md', 'string', 16), p('Opt', 'string', 8), p('Vr', 'string', 8), p('SN', 'string', 16), p('DA', 'uint16', 1, undefined, undefined, true), p('Pad', 'pad')],
};

function inverter(id: number, name: string): ModelDef {
  return {
    id,
    name,
    length: 50,
    points: [
      ...head,
      p('A', 'uint16', 1, 'A_SF', 'A'), p('AphA', 'uint16', 1, 'A_SF', 'A'), p('AphB', 'uint16', 1, 'A_SF', 'A'), p('AphC', 'uint16', 1, 'A_SF', 'A'), p('A_SF', 'sunssf'),
      p('PPVphAB', 'uint16', 1, 'V_SF', 'V'), p('PPVphBC', 'uint16', 1, 'V_SF', 'V'), p('PPVphCA', 'uint16', 1, 'V_SF', 'V'),
      p('PhVphA', 'uint16', 1, 'V_SF', 'V'), p('PhVphB', 'uint16', 1, 'V_SF', 'V'), p('PhVphC', 'uint16', 1, 'V_SF', 'V'), p('V_SF', 'sunssf'),
      p('W', 'int16', 1, 'W_SF', 'W'), p('W_SF', 'sunssf'), p('Hz', 'uint16', 1, 'Hz_SF', 'Hz'), p('Hz_SF', 'sunssf'),
      p('VA', 'int16', 1, 'VA_SF', 'VA'), p('VA_SF', 'sunssf'), p('VAr', 'int16', 1, 'VAr_SF', 'var'), p('VAr_SF', 'sunssf'),
      p('PF', 'int16', 1, 'PF_SF', 'Pct'), p('PF_SF', 'sunssf'), p('WH', 'acc32', 2, 'WH_SF', 'Wh'), p('WH_SF', 'sunssf'),
      p('DCA', 'uint16', 1, 'DCA_SF', 'A'), p('DCA_SF', 'sunssf'), p('DCV', 'uint16', 1, 'DCV_SF', 'V'), p('DCV_SF', 'sunssf'),
      p('DCW', 'int16', 1, 'DCW_SF', 'W'), p('DCW_SF', 'sunssf'),
      p('TmpCab', 'int16', 1, 'Tmp_SF', 'C'), p('TmpSnk', 'int16', 1, 'Tmp_SF', 'C'), p('TmpTrns', 'int16', 1, 'Tmp_SF', 'C'), p('TmpOt', 'int16', 1, 'Tmp_SF', 'C'), p('Tmp_SF', 'sunssf'),
      p('St', 'enum16'),
    ],
  };
}

const controls: ModelDef = {
  id: 123,
  name: 'controls',
  length: 24,
  points: [
    ...head,
    p('Conn_WinTms', 'uint16', 1, undefined, 'Secs', true), p('Conn_RvrtTms', 'uint16', 1, undefined, 'Secs', true), p('Conn', 'enum16', 1, undefined, undefined, true),
    p('WMaxLimPct', 'uint16', 1, 'WMaxLimPct_SF', '% WMax', true), p('WMaxLimPct_WinTms', 'uint16', 1, undefined, 'Secs', true),
    p('WMaxLimPct_RvrtTms', 'uint16', 1, undefined, 'Secs', true), p('WMaxLimPct_RmpTms', 'uint16', 1, undefined, 'Secs', true), p('WMaxLim_Ena', 'enum16', 1, undefined, undefined, true),
    p('OutPFSet', 'int16', 1, 'OutPFSet_SF', 'cos()', true), p('OutPFSet_WinTms', 'uint16', 1, undefined, 'Secs', true), p('OutPFSet_RvrtTms', 'uint16', 1, undefined, 'Secs', true),
    p('OutPFSet_RmpTms', 'uint16', 1, undefined, 'Secs', true), p('OutPFSet_Ena', 'enum16', 1, undefined, undefined, true),
    p('VArWMaxPct', 'int16', 1, 'VArPct_SF', '% WMax', true), p('VArMaxPct', 'int16', 1, 'VArPct_SF', '% VArMax', true), p('VArAvalPct', 'int16', 1, 'VArPct_SF', '% VArAval', true),
    p('VArPct_WinTms', 'uint16', 1, undefined, 'Secs', true), p('VArPct_RvrtTms', 'uint16', 1, undefined, 'Secs', true), p('VArPct_RmpTms', 'uint16', 1, undefined, 'Secs', true),
    p('VArPct_Mod', 'enum16', 1, undefined, undefined, true), p('VArPct_Ena', 'enum16', 1, undefined, undefined, true),
    p('WMaxLimPct_SF', 'sunssf'), p('OutPFSet_SF', 'sunssf'), p('VArPct_SF', 'sunssf'),
  ],
};

const storage: ModelDef = {
  id: 124,
  name: 'storage_basic',
  length: 24,
  points: [
    ...head,
    p('WChaMax', 'uint16', 1, 'WChaMax_SF', 'W', true), p('WChaGra', 'uint16', 1, 'WChaDisChaGra_SF', '% WChaMax/sec', true), p('WDisChaGra', 'uint16', 1, 'WChaDisChaGra_SF', '% WChaMax/sec', true),
    p('StorCtl_Mod', 'bitfield16', 1, undefined, undefined, true), p('VAChaMax', 'uint16', 1, 'VAChaMax_SF', 'VA', true), p('MinRsvPct', 'uint16', 1, 'MinRsvPct_SF', '% WChaMax', true),
    p('ChaState', 'uint16', 1, 'ChaState_SF', '% AhrRtg'), p('StorAval', 'uint16', 1, 'StorAval_SF', 'AH'), p('InBatV', 'uint16', 1, 'InBatV_SF', 'V'), p('ChaSt', 'enum16'),
    p('OutWRte', 'int16', 1, 'InOutWRte_SF', '% WDisChaMax', true), p('InWRte', 'int16', 1, 'InOutWRte_SF', ' % WChaMax', true),
    p('InOutWRte_WinTms', 'uint16', 1, undefined, 'Secs', true), p('InOutWRte_RvrtTms', 'uint16', 1, undefined, 'Secs', true), p('InOutWRte_RmpTms', 'uint16', 1, undefined, 'Secs', true),
    p('ChaGriSet', 'enum16', 1, undefined, undefined, true),
    p('WChaMax_SF', 'sunssf'), p('WChaDisChaGra_SF', 'sunssf'), p('VAChaMax_SF', 'sunssf'), p('MinRsvPct_SF', 'sunssf'), p('ChaState_SF', 'sunssf'), p('StorAval_SF', 'sunssf'),
    p('InBatV_SF', 'sunssf'), p('InOutWRte_SF', 'sunssf'),
  ],
};

function meter(id: number, name: string): ModelDef {
  const ph = (n: string, sf: string, u: string) => [p(n, 'int16', 1, sf, u), p(`${n}phA`, 'int16', 1, sf, u), p(`${n}phB`, 'int16', 1, sf, u), p(`${n}phC`, 'int16', 1, sf, u)];
  const acc = (n: string) => [p(n, 'acc32', 2, 'TotWh_SF', 'Wh'), p(`${n}PhA`, 'acc32', 2, 'TotWh_SF', 'Wh'), p(`${n}PhB`, 'acc32', 2, 'TotWh_SF', 'Wh'), p(`${n}PhC`, 'acc32', 2, 'TotWh_SF', 'Wh')];
  // Line-to-line voltages are PPV… in the single-phase meter (201) and PhV… in the others.
  const ll = id >= 202 ? ['PhVphAB', 'PhVphBC', 'PhVphCA'] : ['PPVphAB', 'PPVphBC', 'PPVphCA'];
  return {
    id,
    name,
    length: 105,
    points: [
      ...head,
      ...ph('A', 'A_SF', 'A'), p('A_SF', 'sunssf'),
      p('PhV', 'int16', 1, 'V_SF', 'V'), p('PhVphA', 'int16', 1, 'V_SF', 'V'), p('PhVphB', 'int16', 1, 'V_SF', 'V'), p('PhVphC', 'int16', 1, 'V_SF', 'V'),
      p('PPV', 'int16', 1, 'V_SF', 'V'), ...ll.map((n) => p(n, 'int16', 1, 'V_SF', 'V')), p('V_SF', 'sunssf'),
      p('Hz', 'int16', 1, 'Hz_SF', 'Hz'), p('Hz_SF', 'sunssf'),
      p('W', 'int16', 1, 'W_SF', 'W'), p('WphA', 'int16', 1, 'W_SF', 'W'), p('WphB', 'int16', 1, 'W_SF', 'W'), p('WphC', 'int16', 1, 'W_SF', 'W'), p('W_SF', 'sunssf'),
      p('VA', 'int16', 1, 'VA_SF', 'VA'), p('VAphA', 'int16', 1, 'VA_SF', 'VA'), p('VAphB', 'int16', 1, 'VA_SF', 'VA'), p('VAphC', 'int16', 1, 'VA_SF', 'VA'), p('VA_SF', 'sunssf'),
      p('VAR', 'int16', 1, 'VAR_SF', 'var'), p('VARphA', 'int16', 1, 'VAR_SF', 'var'), p('VARphB', 'int16', 1, 'VAR_SF', 'var'), p('VARphC', 'int16', 1, 'VAR_SF', 'var'), p('VAR_SF', 'sunssf'),
      p('PF', 'int16', 1, 'PF_SF', 'Pct'), p('PFphA', 'int16', 1, 'PF_SF', 'Pct'), p('PFphB', 'int16', 1, 'PF_SF', 'Pct'), p('PFphC', 'int16', 1, 'PF_SF', 'Pct'), p('PF_SF', 'sunssf'),
      ...acc('TotWhExp'), ...acc('TotWhImp'), p('TotWh_SF', 'sunssf'),
    ],
  };
}

export const MODELS: ReadonlyMap<number, ModelDef> = new Map(
  [
    common,
    inverter(101, 'inverter_single_phase'),
    inverter(102, 'inverter_split_phase'),
    inverter(103, 'inverter_three_phase'),
    controls,
    storage,
    meter(201, 'ac_meter_an_or_ab'),
    meter(202, 'ac_meter_abn'),
    meter(203, 'ac_meter_abcn'),
    meter(204, 'ac_meter_abc'),
  ].map((m) => [m.id, m]),
);

/** Register offset of each point from the model's ID register. */
export function offsets(m: ModelDef): Map<string, { offset: number; def: PointDef }> {
  const out = new Map<string, { offset: number; def: PointDef }>();
  let o = 0;
  for (const d of m.points) {
    out.set(d.name, { offset: o, def: d });
    o += d.size;
  }
  return out;
}

/** The "SunS" marker at the start of a SunSpec map (0x5375, 0x6e53), and where devices put it. */
export const SUNS_MARKER = [0x5375, 0x6e53] as const;
export const SUNSPEC_BASES = [40000, 0, 50000] as const;
export const END_MODEL = 0xffff;

/** SunSpec "not implemented" values by type. */
export const NOT_IMPLEMENTED: Partial<Record<PointType, number>> = { int16: 0x8000, uint16: 0xffff, enum16: 0xffff, sunssf: 0x8000, acc32: 0, uint32: 0xffffffff, int32: 0x80000000 };
