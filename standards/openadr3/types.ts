/** OpenADR 3.1.0 wire types (the subset of fields gridflex stores and serves). */

export type ObjectType = 'PROGRAM' | 'EVENT' | 'REPORT' | 'SUBSCRIPTION' | 'VEN' | 'RESOURCE';

export interface ObjectMetadata {
  id: string;
  createdDateTime: string;
  modificationDateTime: string;
  objectType: ObjectType;
}

export interface ValuesMap {
  type: string;
  values: (number | string | boolean | { x: number; y: number })[];
}

export interface IntervalPeriod {
  start?: string;
  duration?: string;
  randomizeStart?: string;
}

export interface Interval {
  id: number;
  intervalPeriod?: IntervalPeriod;
  payloads: ValuesMap[];
}

/** Scopes named by the 3.1.0 securitySchemes, plus `read_bl`, which its MQTT paths use undeclared. */
export type Scope =
  | 'read_all'
  | 'read_targets'
  | 'read_ven_objects'
  | 'read_bl'
  | 'write_programs'
  | 'write_events'
  | 'write_reports'
  | 'write_subscriptions'
  | 'write_vens';

export type ClientRole = 'bl' | 'ven';

/** The scopes a role gets (docs/openadr3.md explains the choices where the spec is silent). */
export const ROLE_SCOPES: Readonly<Record<ClientRole, readonly Scope[]>> = {
  bl: ['read_all', 'read_bl', 'write_programs', 'write_events', 'write_subscriptions', 'write_vens'],
  ven: ['read_targets', 'read_ven_objects', 'write_reports', 'write_subscriptions', 'write_vens'],
};
