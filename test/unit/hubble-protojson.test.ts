/**
 * toProtoJson against the bytes `hubble observe -o json` prints: protojson with UseProtoNames, compacted
 * and HTML-escaped by Go's json.Encoder. Every expected string is written by hand from those rules;
 * each message is also encoded and decoded, so protobufjs instances (prototype defaults, Longs,
 * hashed 64-bit map keys) must print exactly as the plain objects do.
 */
import { describe, expect, it } from 'vitest';
import protobuf from 'protobufjs';
import { hubbleTypes } from '../../src/hubble/proto.js';
import { toProtoJson } from '../../src/hubble/protojson.js';
import { STRUCT_TYPE_URL } from '../../src/hubble/types.js';

const t = hubbleTypes();

/** The JSON of `message`, checked to be the same after an encode/decode round trip. */
function json(type: protobuf.Type, message: object): string {
  const plain = toProtoJson(type, message);
  expect(toProtoJson(type, type.decode(type.encode(message).finish()))).toBe(plain);
  return plain;
}

const structBytes = t.Struct.encode({
  fields: { probe: { stringValue: 'traffic' }, packets: { numberValue: 3 }, suppressed: { boolValue: false } },
}).finish();

const fullFlow = {
  time: { seconds: 1_700_000_000, nanos: 123_456_789 },
  uuid: '6e0f9d5c-1b2a-4c3d-8e4f-5a6b7c8d9e0f',
  verdict: 1,
  IP: { source: '10.1.0.5', destination: '10.2.0.9', ipVersion: 1, encrypted: false },
  l4: { TCP: { source_port: 40000, destination_port: 443, flags: { SYN: true, ACK: true, FIN: false } } },
  source: {
    ID: 12, identity: 3456, namespace: 'shop', labels: ['k8s:app=checkout'], pod_name: 'checkout-7d9f',
    workloads: [{ name: 'checkout', kind: 'Deployment' }],
  },
  destination: {
    ID: 0, identity: 2, cluster_name: 'default', namespace: 'payments', labels: ['k8s:app=api', 'k8s:tier=backend'],
    pod_name: 'api-0', workloads: [{ name: 'api', kind: 'StatefulSet' }],
  },
  Type: 1,
  node_name: 'node-1',
  node_labels: [],
  reply: false,
  event_type: { type: 4, sub_type: 5 },
  traffic_direction: 2,
  trace_observation_point: 5,
  is_reply: { value: false },
  interface: { index: 7, name: 'eth0' },
  Summary: 'TCP Flags: SYN, ACK',
  extensions: { type_url: STRUCT_TYPE_URL, value: structBytes },
};

const fullFlowJson =
  '{"time":"2023-11-14T22:13:20.123456789Z","uuid":"6e0f9d5c-1b2a-4c3d-8e4f-5a6b7c8d9e0f","verdict":"FORWARDED",'
  + '"IP":{"source":"10.1.0.5","destination":"10.2.0.9","ipVersion":"IPv4"},'
  + '"l4":{"TCP":{"source_port":40000,"destination_port":443,"flags":{"SYN":true,"ACK":true}}},'
  + '"source":{"ID":12,"identity":3456,"namespace":"shop","labels":["k8s:app=checkout"],"pod_name":"checkout-7d9f",'
  + '"workloads":[{"name":"checkout","kind":"Deployment"}]},'
  + '"destination":{"identity":2,"cluster_name":"default","namespace":"payments","labels":["k8s:app=api","k8s:tier=backend"],'
  + '"pod_name":"api-0","workloads":[{"name":"api","kind":"StatefulSet"}]},'
  + '"Type":"L3_L4","node_name":"node-1","event_type":{"type":4,"sub_type":5},"traffic_direction":"EGRESS",'
  + '"trace_observation_point":"FROM_ENDPOINT","is_reply":false,"interface":{"index":7,"name":"eth0"},'
  + '"Summary":"TCP Flags: SYN, ACK",'
  + '"extensions":{"@type":"type.googleapis.com/google.protobuf.Struct","value":{"packets":3,"probe":"traffic","suppressed":false}}}';

describe('Flow', () => {
  it('a full flow: proto names, declaration order, defaults left out, enums by name, is_reply false kept', () => {
    expect(json(t.Flow, fullFlow)).toBe(fullFlowJson);
  });

  it('inside a GetFlowsResponse: the oneof member first, then node_name and time', () => {
    expect(json(t.GetFlowsResponse, { flow: fullFlow, node_name: 'node-1', time: { seconds: 1_700_000_000, nanos: 0 } }))
      .toBe(`{"flow":${fullFlowJson},"node_name":"node-1","time":"2023-11-14T22:13:20Z"}`);
  });

  it('an empty flow is {}, and empty sub-messages are kept as {}', () => {
    expect(json(t.Flow, {})).toBe('{}');
    expect(json(t.Flow, { source: {}, l4: { UDP: {} }, is_reply: {} })).toBe('{"l4":{"UDP":{}},"source":{},"is_reply":false}');
  });

  it('an unknown enum number stays a number', () => {
    expect(json(t.Flow, { verdict: 99, drop_reason_desc: 5000 })).toBe('{"verdict":99,"drop_reason_desc":5000}');
  });

  it('uint64 as a decimal string, from a number, a string or a Long', () => {
    const long = { low: 1, high: 0x20_0000, unsigned: true }; // 2^53 + 1, past what a double holds
    const flow = { ip_trace_id: { trace_id: '18446744073709551615' }, socket_cookie: long, cgroup_id: 42 };
    expect(json(t.Flow, flow)).toBe('{"ip_trace_id":{"trace_id":"18446744073709551615"},"socket_cookie":"9007199254740993","cgroup_id":"42"}');
  });

  it('strings escaped as Go prints them: quotes, controls in lower-case hex, <>& and U+2028/9 as \\u', () => {
    const summary = 'a "b" \\ c\n\t\r\b\f \u0000\u001b\u007f <x> & \u2028\u2029 é 😀 /';
    expect(json(t.Flow, { Summary: summary }))
      .toBe('{"Summary":"a \\"b\\" \\\\ c\\n\\t\\r\\b\\f \\u0000\\u001b\u007f \\u003cx\\u003e \\u0026 \\u2028\\u2029 é 😀 /"}');
  });

  it('a lone surrogate (invalid UTF-8 for Go) throws', () => {
    expect(() => toProtoJson(t.Flow, { Summary: 'x\ud800y' })).toThrow(/UTF-8/);
  });
});

describe('Timestamp', () => {
  const at = (nanos: number, seconds = 1_700_000_000): string => json(t.GetFlowsResponse, { node_name: 'n', time: { seconds, nanos } });

  it('RFC 3339 in UTC with 0, 3, 6 or 9 fractional digits', () => {
    expect(at(0)).toBe('{"node_name":"n","time":"2023-11-14T22:13:20Z"}');
    expect(at(123_000_000)).toBe('{"node_name":"n","time":"2023-11-14T22:13:20.123Z"}');
    expect(at(123_456_000)).toBe('{"node_name":"n","time":"2023-11-14T22:13:20.123456Z"}');
    expect(at(123_456_789)).toBe('{"node_name":"n","time":"2023-11-14T22:13:20.123456789Z"}');
    expect(at(100)).toBe('{"node_name":"n","time":"2023-11-14T22:13:20.000000100Z"}');
    expect(at(0, 0)).toBe('{"node_name":"n","time":"1970-01-01T00:00:00Z"}');
  });

  it('the range is years 1 to 9999', () => {
    expect(at(0, -62_135_596_800)).toBe('{"node_name":"n","time":"0001-01-01T00:00:00Z"}');
    expect(at(999_999_999, 253_402_300_799)).toBe('{"node_name":"n","time":"9999-12-31T23:59:59.999999999Z"}');
    expect(() => toProtoJson(t.GetFlowsResponse, { time: { seconds: 253_402_300_800, nanos: 0 } })).toThrow(/out of range/);
    expect(() => toProtoJson(t.GetFlowsResponse, { time: { seconds: 0, nanos: -1 } })).toThrow(/out of range/);
  });
});

describe('LostEvent', () => {
  it('Int32Value cpu as its bare value (0 kept: the wrapper is set), uint64 count as a string', () => {
    const lost = { source: 1, num_events_lost: '12345678901234', cpu: { value: 0 }, first: { seconds: 0, nanos: 0 } };
    expect(json(t.GetFlowsResponse, { lost_events: lost, node_name: 'node-1' }))
      .toBe('{"lost_events":{"source":"PERF_EVENT_RING_BUFFER","num_events_lost":"12345678901234","cpu":0,"first":"1970-01-01T00:00:00Z"},"node_name":"node-1"}');
    expect(json(t.LostEvent, { source: 3, num_events_lost: 7, cpu: { value: -1 } }))
      .toBe('{"source":"HUBBLE_RING_BUFFER","num_events_lost":"7","cpu":-1}');
  });
});

describe('Any', () => {
  const anyOf = (type_url: string, value: Uint8Array): object => ({ extensions: { type_url, value } });

  it('a message type: "@type" then its fields; a well-known type: "@type" and "value"', () => {
    const Emitter = t.root.lookupType('flow.Emitter');
    const Timestamp = t.root.lookupType('google.protobuf.Timestamp');
    expect(json(t.Flow, anyOf('type.googleapis.com/flow.Emitter', Emitter.encode({ name: 'fovea', version: '' }).finish())))
      .toBe('{"extensions":{"@type":"type.googleapis.com/flow.Emitter","name":"fovea"}}');
    expect(json(t.Flow, anyOf('type.googleapis.com/flow.Emitter', new Uint8Array(0))))
      .toBe('{"extensions":{"@type":"type.googleapis.com/flow.Emitter"}}');
    expect(json(t.Flow, anyOf('type.googleapis.com/google.protobuf.Timestamp', Timestamp.encode({ seconds: 5, nanos: 5_000_000 }).finish())))
      .toBe('{"extensions":{"@type":"type.googleapis.com/google.protobuf.Timestamp","value":"1970-01-01T00:00:05.005Z"}}');
    expect(json(t.Flow, anyOf('', new Uint8Array(0)))).toBe('{"extensions":{}}');
  });

  it('a Struct: keys sorted by code point; numbers in Go\'s shortest form; null, lists, nested structs', () => {
    const value = t.Struct.encode({
      fields: {
        z: { stringValue: '<b>' }, a: { numberValue: 1e21 }, b: { numberValue: 1e-7 }, c: { numberValue: 0.1 }, d: { numberValue: -0 },
        e: { boolValue: true }, f: { nullValue: 0 }, Z: { numberValue: 123_456_789_012 }, 'é': { numberValue: 1.5e-300 },
        g: { listValue: { values: [{ numberValue: 3 }, { stringValue: '' }, { structValue: { fields: {} } }] } },
      },
    }).finish();
    expect(json(t.Flow, anyOf(STRUCT_TYPE_URL, value))).toBe(
      '{"extensions":{"@type":"type.googleapis.com/google.protobuf.Struct","value":'
      + '{"Z":123456789012,"a":1e+21,"b":1e-7,"c":0.1,"d":-0,"e":true,"f":null,"g":[3,"",{}],"z":"\\u003cb\\u003e","é":1.5e-300}}}',
    );
  });

  it('a type the root cannot resolve throws (the real CLI fails on it too)', () => {
    expect(() => toProtoJson(t.Flow, anyOf('type.googleapis.com/fovea.Private', new Uint8Array([8, 1]))))
      .toThrow(/unable to resolve "type.googleapis.com\/fovea.Private"/);
    expect(() => toProtoJson(t.Flow, anyOf('', new Uint8Array([8, 1])))).toThrow(/type_url/);
  });

  it('a Value without a kind, or with a NaN number, throws', () => {
    const Value = t.root.lookupType('google.protobuf.Value');
    expect(() => toProtoJson(Value, {})).toThrow(/none of the oneof fields/);
    expect(() => toProtoJson(Value, { numberValue: NaN })).toThrow(/invalid number_value/);
  });
});

describe('other scalar and well-known rules (a test schema)', () => {
  const root = new protobuf.Root();
  for (const f of ['duration', 'field_mask', 'wrappers']) root.loadSync(`google/protobuf/${f}.proto`);
  protobuf.parse(`
    syntax = "proto3";
    package test;
    import "google/protobuf/duration.proto";
    import "google/protobuf/field_mask.proto";
    import "google/protobuf/wrappers.proto";
    enum Color { COLOR_NONE = 0; RED = 1; }
    message All {
      double d = 1;
      float f = 2;
      int64 i64 = 3;
      sint32 s32 = 4;
      bytes raw = 5;
      optional int32 opt = 6;
      map<int64, string> by_long = 7;
      map<bool, int32> by_bool = 8;
      map<string, Color> by_name = 9;
      google.protobuf.Duration took = 10;
      google.protobuf.FieldMask mask = 11;
      google.protobuf.Int64Value big = 12;
      google.protobuf.StringValue label = 13;
      google.protobuf.BytesValue blob = 14;
      repeated Color colors = 15;
      uint32 u32 = 16;
    }`, root, { keepCase: true });
  root.resolveAll();
  const All = root.lookupType('test.All');

  it('numbers: shortest doubles and floats, special values as strings, 64-bit as strings, bytes as base64', () => {
    expect(json(All, { d: 0.1, f: 0.1, i64: '-5', s32: -7, raw: new Uint8Array([0xff, 0xfe, 0]), u32: 4_294_967_295 }))
      .toBe('{"d":0.1,"f":0.1,"i64":"-5","s32":-7,"raw":"//4A","u32":4294967295}');
    expect(json(All, { d: NaN, f: Infinity })).toBe('{"d":"NaN","f":"Infinity"}');
    expect(json(All, { d: -Infinity, f: 3.4028234663852886e38 })).toBe('{"d":"-Infinity","f":3.4028235e+38}');
  });

  it('an explicit-presence field is written when set, even to its default', () => {
    expect(json(All, { opt: 0 })).toBe('{"opt":0}');
    expect(json(All, {})).toBe('{}');
  });

  it('map keys sorted: integers numerically, false before true, strings by code point', () => {
    const m = { by_long: { 10: 'ten', '-5': 'minus five', 3: 'three' }, by_name: { b: 1, B: 0, a: 1 } };
    expect(json(All, m)).toBe('{"by_long":{"-5":"minus five","3":"three","10":"ten"},"by_name":{"B":"COLOR_NONE","a":"RED","b":"RED"}}');
    // not round-tripped: protobufjs encodes every bool key of a plain object as true
    expect(toProtoJson(All, { by_bool: { true: 1, false: 0 } })).toBe('{"by_bool":{"false":0,"true":1}}');
  });

  it('Duration as seconds with 0, 3, 6 or 9 fractional digits', () => {
    expect(json(All, { took: { seconds: 1, nanos: 500_000_000 } })).toBe('{"took":"1.500s"}');
    expect(json(All, { took: { seconds: 0, nanos: 0 } })).toBe('{"took":"0s"}');
    expect(json(All, { took: { seconds: -3, nanos: -1_000 } })).toBe('{"took":"-3.000001s"}');
    expect(json(All, { took: { seconds: 0, nanos: -1 } })).toBe('{"took":"-0.000000001s"}');
    expect(() => toProtoJson(All, { took: { seconds: 1, nanos: -1 } })).toThrow(/signs/);
  });

  it('FieldMask as comma-joined lowerCamelCase; a path that does not survive the round trip throws', () => {
    expect(json(All, { mask: { paths: ['source.pod_name', 'time'] } })).toBe('{"mask":"source.podName,time"}');
    expect(() => toProtoJson(All, { mask: { paths: ['IP'] } })).toThrow(/irreversible/);
  });

  it('wrappers as their bare values, even the default', () => {
    expect(json(All, { big: { value: '9007199254740993' }, label: { value: '' }, blob: { value: new Uint8Array([1]) } }))
      .toBe('{"big":"9007199254740993","label":"","blob":"AQ=="}');
  });

  it('repeated enums by name, unknown ones as numbers', () => {
    expect(json(All, { colors: [1, 0, 7] })).toBe('{"colors":["RED","COLOR_NONE",7]}');
  });
});
