/**
 * The netstack parser (/proc/net/snmp, netstat, snmp6 → the bounded counter set), unprivileged:
 * the three files as captured on the development host (kernel 6.18.44, `cat /proc/net/snmp` etc.,
 * unedited), then malformed variants of them — a protocol block that cannot be read as a whole is
 * skipped and reported, never thrown, and never shifts another block's values.
 */
import { describe, expect, it } from 'vitest';
import { NETSTACK_COUNTERS, parseNetstack } from '../../src/probes/netstack/snmp.js';

// cat /proc/net/snmp (kernel 6.18.44)
const SNMP = `Ip: Forwarding DefaultTTL InReceives InHdrErrors InAddrErrors ForwDatagrams InUnknownProtos InDiscards InDelivers OutRequests OutDiscards OutNoRoutes ReasmTimeout ReasmReqds ReasmOKs ReasmFails FragOKs FragFails FragCreates OutTransmits
Ip: 2 64 5915 0 0 0 0 0 5915 4183 0 0 0 0 0 0 0 0 0 4183
Icmp: InMsgs InErrors InCsumErrors InDestUnreachs InTimeExcds InParmProbs InSrcQuenchs InRedirects InEchos InEchoReps InTimestamps InTimestampReps InAddrMasks InAddrMaskReps OutMsgs OutErrors OutRateLimitGlobal OutRateLimitHost OutDestUnreachs OutTimeExcds OutParmProbs OutSrcQuenchs OutRedirects OutEchos OutEchoReps OutTimestamps OutTimestampReps OutAddrMasks OutAddrMaskReps
Icmp: 1 0 0 1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
IcmpMsg: InType3
IcmpMsg: 1
Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails EstabResets CurrEstab InSegs OutSegs RetransSegs InErrs OutRsts InCsumErrors
Tcp: 1 200 120000 -1 34 2 0 0 0 5842 4111 0 0 36 0
Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors
Udp: 72 0 0 73 0 0 0 0 0
UdpLite: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors
UdpLite: 0 0 0 0 0 0 0 0 0
`;

// cat /proc/net/netstat (kernel 6.18.44)
const NETSTAT = `TcpExt: SyncookiesSent SyncookiesRecv SyncookiesFailed EmbryonicRsts PruneCalled RcvPruned OfoPruned OutOfWindowIcmps LockDroppedIcmps ArpFilter TW TWRecycled TWKilled PAWSActive PAWSEstab BeyondWindow TSEcrRejected PAWSOldAck PAWSTimewait DelayedACKs DelayedACKLocked DelayedACKLost ListenOverflows ListenDrops TCPHPHits TCPPureAcks TCPHPAcks TCPRenoRecovery TCPSackRecovery TCPSACKReneging TCPSACKReorder TCPRenoReorder TCPTSReorder TCPFullUndo TCPPartialUndo TCPDSACKUndo TCPLossUndo TCPLostRetransmit TCPRenoFailures TCPSackFailures TCPLossFailures TCPFastRetrans TCPSlowStartRetrans TCPTimeouts TCPLossProbes TCPLossProbeRecovery TCPRenoRecoveryFail TCPSackRecoveryFail TCPRcvCollapsed TCPBacklogCoalesce TCPDSACKOldSent TCPDSACKOfoSent TCPDSACKRecv TCPDSACKOfoRecv TCPAbortOnData TCPAbortOnClose TCPAbortOnMemory TCPAbortOnTimeout TCPAbortOnLinger TCPAbortFailed TCPMemoryPressures TCPMemoryPressuresChrono TCPSACKDiscard TCPDSACKIgnoredOld TCPDSACKIgnoredNoUndo TCPSpuriousRTOs TCPMD5NotFound TCPMD5Unexpected TCPMD5Failure TCPSackShifted TCPSackMerged TCPSackShiftFallback TCPBacklogDrop PFMemallocDrop TCPMinTTLDrop TCPDeferAcceptDrop IPReversePathFilter TCPTimeWaitOverflow TCPReqQFullDoCookies TCPReqQFullDrop TCPRetransFail TCPRcvCoalesce TCPOFOQueue TCPOFODrop TCPOFOMerge TCPChallengeACK TCPSYNChallenge TCPFastOpenActive TCPFastOpenActiveFail TCPFastOpenPassive TCPFastOpenPassiveFail TCPFastOpenListenOverflow TCPFastOpenCookieReqd TCPFastOpenBlackhole TCPSpuriousRtxHostQueues BusyPollRxPackets TCPAutoCorking TCPFromZeroWindowAdv TCPToZeroWindowAdv TCPWantZeroWindowAdv TCPSynRetrans TCPOrigDataSent TCPHystartTrainDetect TCPHystartTrainCwnd TCPHystartDelayDetect TCPHystartDelayCwnd TCPACKSkippedSynRecv TCPACKSkippedPAWS TCPACKSkippedSeq TCPACKSkippedFinWait2 TCPACKSkippedTimeWait TCPACKSkippedChallenge TCPWinProbe TCPKeepAlive TCPMTUPFail TCPMTUPSuccess TCPDelivered TCPDeliveredCE TCPAckCompressed TCPZeroWindowDrop TCPRcvQDrop TCPWqueueTooBig TCPFastOpenPassiveAltKey TcpTimeoutRehash TcpDuplicateDataRehash TCPDSACKRecvSegs TCPDSACKIgnoredDubious TCPMigrateReqSuccess TCPMigrateReqFailure TCPPLBRehash TCPAORequired TCPAOBad TCPAOKeyNotFound TCPAOGood TCPAODroppedIcmps
TcpExt: 0 0 0 0 0 0 0 0 0 0 16 0 0 0 0 0 0 0 0 34 0 69 0 0 35 146 26 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 2 0 0 0 0 0 38 69 0 0 0 18 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 3960 0 0 0 0 0 0 0 0 0 0 0 0 2 0 1 231 231 113 0 461 0 0 0 0 0 0 0 0 0 0 0 84 0 0 494 0 0 0 0 0 0 2 0 0 0 0 0 0 0 0 0 0 0
IpExt: InNoRoutes InTruncatedPkts InMcastPkts OutMcastPkts InBcastPkts OutBcastPkts InOctets OutOctets InMcastOctets OutMcastOctets InBcastOctets OutBcastOctets InCsumErrors InNoECTPkts InECT1Pkts InECT0Pkts InCEPkts ReasmOverlaps
IpExt: 0 0 0 0 0 0 214034097 413341 0 0 0 0 0 5915 0 0 0 0
MPTcpExt: MPCapableSYNRX MPCapableSYNTX MPCapableSYNACKRX MPCapableACKRX MPCapableFallbackACK MPCapableFallbackSYNACK MPCapableSYNTXDrop MPCapableSYNTXDisabled MPCapableEndpAttempt MPFallbackTokenInit MPTCPRetrans MPJoinNoTokenFound MPJoinSynRx MPJoinSynBackupRx MPJoinSynAckRx MPJoinSynAckBackupRx MPJoinSynAckHMacFailure MPJoinAckRx MPJoinAckHMacFailure MPJoinRejected MPJoinSynTx MPJoinSynTxCreatSkErr MPJoinSynTxBindErr MPJoinSynTxConnectErr DSSNotMatching DSSCorruptionFallback DSSCorruptionReset InfiniteMapTx InfiniteMapRx DSSNoMatchTCP DataCsumErr OFOQueueTail OFOQueue OFOMerge NoDSSInWindow DuplicateData AddAddr AddAddrTx AddAddrTxDrop EchoAdd EchoAddTx EchoAddTxDrop PortAdd AddAddrDrop MPJoinPortSynRx MPJoinPortSynAckRx MPJoinPortAckRx MismatchPortSynRx MismatchPortAckRx RmAddr RmAddrDrop RmAddrTx RmAddrTxDrop RmSubflow MPPrioTx MPPrioRx MPFailTx MPFailRx MPFastcloseTx MPFastcloseRx MPRstTx MPRstRx SubflowStale SubflowRecover SndWndShared RcvWndShared RcvWndConflictUpdate RcvWndConflict MPCurrEstab Blackhole MPCapableDataFallback MD5SigFallback DssFallback SimultConnectFallback FallbackFailed WinProbe
MPTcpExt: 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
`;

// cat /proc/net/snmp6 (kernel 6.18.44; name, spaces, a tab, value)
const SNMP6 = `Ip6InReceives                   	1
Ip6InHdrErrors                  	0
Ip6InTooBigErrors               	0
Ip6InNoRoutes                   	0
Ip6InAddrErrors                 	0
Ip6InUnknownProtos              	0
Ip6InTruncatedPkts              	0
Ip6InDiscards                   	0
Ip6InDelivers                   	1
Ip6OutForwDatagrams             	0
Ip6OutRequests                  	10
Ip6OutDiscards                  	0
Ip6OutNoRoutes                  	0
Ip6ReasmTimeout                 	0
Ip6ReasmReqds                   	0
Ip6ReasmOKs                     	0
Ip6ReasmFails                   	0
Ip6FragOKs                      	0
Ip6FragFails                    	0
Ip6FragCreates                  	0
Ip6InMcastPkts                  	0
Ip6OutMcastPkts                 	8
Ip6InOctets                     	128
Ip6OutOctets                    	880
Ip6InMcastOctets                	0
Ip6OutMcastOctets               	672
Ip6InBcastOctets                	0
Ip6OutBcastOctets               	0
Ip6InNoECTPkts                  	1
Ip6InECT1Pkts                   	0
Ip6InECT0Pkts                   	0
Ip6InCEPkts                     	0
Ip6OutTransmits                 	10
Icmp6InMsgs                     	1
Icmp6InErrors                   	1
Icmp6OutMsgs                    	9
Icmp6OutErrors                  	0
Icmp6InCsumErrors               	0
Icmp6OutRateLimitHost           	0
Icmp6InDestUnreachs             	1
Icmp6InPktTooBigs               	0
Icmp6InTimeExcds                	0
Icmp6InParmProblems             	0
Icmp6InEchos                    	0
Icmp6InEchoReplies              	0
Icmp6InGroupMembQueries         	0
Icmp6InGroupMembResponses       	0
Icmp6InGroupMembReductions      	0
Icmp6InRouterSolicits           	0
Icmp6InRouterAdvertisements     	0
Icmp6InNeighborSolicits         	0
Icmp6InNeighborAdvertisements   	0
Icmp6InRedirects                	0
Icmp6InMLDv2Reports             	0
Icmp6OutDestUnreachs            	1
Icmp6OutPktTooBigs              	0
Icmp6OutTimeExcds               	0
Icmp6OutParmProblems            	0
Icmp6OutEchos                   	0
Icmp6OutEchoReplies             	0
Icmp6OutGroupMembQueries        	0
Icmp6OutGroupMembResponses      	0
Icmp6OutGroupMembReductions     	0
Icmp6OutRouterSolicits          	0
Icmp6OutRouterAdvertisements    	0
Icmp6OutNeighborSolicits        	4
Icmp6OutNeighborAdvertisements  	0
Icmp6OutRedirects               	0
Icmp6OutMLDv2Reports            	4
Icmp6InType1                    	1
Icmp6OutType1                   	1
Icmp6OutType135                 	4
Icmp6OutType143                 	4
Udp6InDatagrams                 	0
Udp6NoPorts                     	0
Udp6InErrors                    	0
Udp6OutDatagrams                	0
Udp6RcvbufErrors                	0
Udp6SndbufErrors                	0
Udp6InCsumErrors                	0
Udp6IgnoredMulti                	0
Udp6MemErrors                   	0
UdpLite6InDatagrams             	0
UdpLite6NoPorts                 	0
UdpLite6InErrors                	0
UdpLite6OutDatagrams            	0
UdpLite6RcvbufErrors            	0
UdpLite6SndbufErrors            	0
UdpLite6InCsumErrors            	0
UdpLite6MemErrors               	0
`;

const asRecord = (texts: Parameters<typeof parseNetstack>[0]) =>
  Object.fromEntries(parseNetstack(texts).counters.map((c) => [c.counter, c.value]));

/** `text` with the value line of `proto` (the second line with that prefix) passed through `edit`. */
function editValues(text: string, proto: string, edit: (values: string[]) => string[]): string {
  let seen = 0;
  return text.split('\n').map((l) => {
    if (!l.startsWith(`${proto}: `) || ++seen !== 2) return l;
    return `${proto}: ${edit(l.slice(proto.length + 2).split(' ')).join(' ')}`;
  }).join('\n');
}

describe('parseNetstack on captured text', () => {
  it('takes exactly the documented counters, named <Proto>.<Field>, with the kernel\'s values', () => {
    const r = parseNetstack({ snmp: SNMP, netstat: NETSTAT, snmp6: SNMP6 });
    expect(r.problems).toEqual([]);
    expect(r.counters.map((c) => c.counter)).toEqual(NETSTACK_COUNTERS);
    expect(NETSTACK_COUNTERS).toHaveLength(21);
    expect(asRecord({ snmp: SNMP, netstat: NETSTAT, snmp6: SNMP6 })).toEqual({
      'Tcp.ActiveOpens': 34, 'Tcp.PassiveOpens': 2, 'Tcp.AttemptFails': 0, 'Tcp.EstabResets': 0,
      'Tcp.RetransSegs': 0, 'Tcp.InErrs': 0, 'Tcp.OutRsts': 36, 'TcpExt.ListenOverflows': 0,
      'TcpExt.ListenDrops': 0, 'Udp.InErrors': 0, 'Udp.RcvbufErrors': 0, 'Udp.SndbufErrors': 0,
      'Udp.NoPorts': 0, 'Udp6.InErrors': 0, 'Udp6.RcvbufErrors': 0, 'Udp6.SndbufErrors': 0,
      'Udp6.NoPorts': 0, 'Ip.InDiscards': 0, 'Ip.OutDiscards': 0, 'Ip6.InDiscards': 0,
      'Ip6.OutDiscards': 0,
    });
  });

  it('the counter set is the documented one', () => {
    expect(NETSTACK_COUNTERS).toEqual([
      'Tcp.ActiveOpens', 'Tcp.PassiveOpens', 'Tcp.AttemptFails', 'Tcp.EstabResets', 'Tcp.RetransSegs', 'Tcp.InErrs', 'Tcp.OutRsts',
      'TcpExt.ListenOverflows', 'TcpExt.ListenDrops',
      'Udp.InErrors', 'Udp.RcvbufErrors', 'Udp.SndbufErrors', 'Udp.NoPorts',
      'Udp6.InErrors', 'Udp6.RcvbufErrors', 'Udp6.SndbufErrors', 'Udp6.NoPorts',
      'Ip.InDiscards', 'Ip.OutDiscards', 'Ip6.InDiscards', 'Ip6.OutDiscards',
    ]);
  });

  it('no snmp6 (IPv6 disabled): the Ip6 and Udp6 counters are simply not there, no problem', () => {
    const r = parseNetstack({ snmp: SNMP, netstat: NETSTAT, snmp6: undefined });
    expect(r.problems).toEqual([]);
    expect(r.counters.map((c) => c.counter)).toEqual(NETSTACK_COUNTERS.filter((c) => !c.startsWith('Ip6.') && !c.startsWith('Udp6.')));
  });

  it('UdpLite and UdpLite6 do not leak into Udp and Udp6; Udp6 strips its prefix', () => {
    const snmp = SNMP.replace(/^UdpLite: (\d+ )+\d+$/m, 'UdpLite: 9 9 9 9 9 9 9 9 9');
    const snmp6 = SNMP6.replace(/^UdpLite6NoPorts(\s+)\d+$/m, 'UdpLite6NoPorts$19');
    const r = asRecord({ snmp, snmp6 });
    expect(r['Udp.NoPorts']).toBe(0);
    expect(r['Udp6.NoPorts']).toBe(0);
  });

  it('a field this kernel does not print is left out (older kernels)', () => {
    const snmp = SNMP.replace('Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens', 'Tcp: RtoAlgorithm RtoMin RtoMax MaxConn Opens');
    const r = parseNetstack({ snmp });
    expect(r.problems).toEqual([]);
    expect(r.counters.map((c) => c.counter)).not.toContain('Tcp.ActiveOpens');
    expect(r.counters.map((c) => c.counter)).toContain('Tcp.PassiveOpens');
  });

  it('each counter comes from its own column (every value made distinct: column index + 1000)', () => {
    const distinct = (text: string, proto: string) => editValues(text, proto, (v) => v.map((_, i) => String(1000 + i)));
    const snmp = ['Ip', 'Tcp', 'Udp'].reduce(distinct, SNMP);
    const r = asRecord({ snmp, netstat: distinct(NETSTAT, 'TcpExt') });
    const column = (text: string, proto: string, field: string) => text.split('\n').find((l) => l.startsWith(`${proto}: `))!.split(' ').slice(1).indexOf(field);
    for (const [name, value] of Object.entries(r)) {
      const [proto, field] = name.split('.') as [string, string];
      expect(value, name).toBe(1000 + column(proto === 'TcpExt' ? NETSTAT : SNMP, proto, field));
    }
    expect(r['Tcp.RetransSegs']).toBe(1011);
    expect(r['TcpExt.ListenDrops']).toBe(1023);
  });

  it('text not in the kernel\'s exact layout (several blanks, a tab, trailing blanks) reads the same, through the careful path', () => {
    const loose = (t: string) => t.replace(/ /g, '  ').replace(/\n/g, ' \t\n');
    expect(parseNetstack({ snmp: loose(SNMP), netstat: loose(NETSTAT), snmp6: loose(SNMP6) })).toEqual(parseNetstack({ snmp: SNMP, netstat: NETSTAT, snmp6: SNMP6 }));
  });

  it('values up to 2^53 are exact; a negative column (Tcp MaxConn -1) is fine', () => {
    const big = editValues(SNMP, 'Tcp', (v) => v.map((x, i) => (i === 11 ? '9007199254740991' : x)));
    expect(parseNetstack({ snmp: big }).counters.find((c) => c.counter === 'Tcp.RetransSegs')?.value).toBe(9007199254740991);
  });
});

describe('parseNetstack on malformed text: skip the block, report it, never throw', () => {
  const good = asRecord({ snmp: SNMP, netstat: NETSTAT, snmp6: SNMP6 });
  const without = (prefix: string) => Object.fromEntries(Object.entries(good).filter(([k]) => !k.startsWith(prefix)));

  it('a value line shorter than its header: that block only', () => {
    const snmp = editValues(SNMP, 'Tcp', (v) => v.slice(1));
    const r = parseNetstack({ snmp, netstat: NETSTAT, snmp6: SNMP6 });
    expect(r.problems).toEqual([{ file: 'snmp', protocol: 'Tcp', reason: '15 names but 14 values' }]);
    expect(Object.fromEntries(r.counters.map((c) => [c.counter, c.value]))).toEqual(without('Tcp.'));
  });

  it('a non-numeric value', () => {
    const snmp = editValues(SNMP, 'Udp', (v) => v.map((x, i) => (i === 1 ? '1e3' : x)));
    expect(parseNetstack({ snmp }).problems).toEqual([{ file: 'snmp', protocol: 'Udp', reason: 'NoPorts: not a number ("1e3")' }]);
    const netstat = editValues(NETSTAT, 'TcpExt', (v) => v.map((x, i) => (i === 3 ? '' : x)));
    expect(parseNetstack({ netstat }).problems).toMatchObject([{ file: 'netstat', protocol: 'TcpExt' }]);
  });

  it('a header without its value line, a repeated block, a missing block', () => {
    const noValues = SNMP.split('\n').filter((l, i, a) => !(l.startsWith('Ip: ') && a.slice(0, i).some((x) => x.startsWith('Ip: ')))).join('\n');
    expect(parseNetstack({ snmp: noValues }).problems).toEqual([{ file: 'snmp', protocol: 'Ip', reason: '1 lines, want a header and a value line' }]);
    const twice = SNMP + SNMP.split('\n').filter((l) => l.startsWith('Udp: ')).join('\n') + '\n';
    expect(parseNetstack({ snmp: twice }).problems).toEqual([{ file: 'snmp', protocol: 'Udp', reason: '4 lines, want a header and a value line' }]);
    const noTcpExt = NETSTAT.split('\n').filter((l) => !l.startsWith('TcpExt:')).join('\n');
    expect(parseNetstack({ netstat: noTcpExt })).toEqual({ counters: [], problems: [{ file: 'netstat', protocol: 'TcpExt', reason: 'no such block' }] });
  });

  it('snmp6: a line without a value or with a bad one spoils its protocol only', () => {
    const snmp6 = SNMP6.replace(/^Udp6InErrors\s+\d+$/m, 'Udp6InErrors');
    const r = parseNetstack({ snmp: SNMP, netstat: NETSTAT, snmp6 });
    expect(r.problems).toEqual([{ file: 'snmp6', protocol: 'Udp6', reason: 'Udp6InErrors: not a "name value" line' }]);
    expect(Object.fromEntries(r.counters.map((c) => [c.counter, c.value]))).toEqual(without('Udp6.'));
    const bad = SNMP6.replace(/^Ip6OutDiscards\s+\d+$/m, 'Ip6OutDiscards  \t-');
    expect(parseNetstack({ snmp6: bad }).problems).toMatchObject([{ file: 'snmp6', protocol: 'Ip6' }]);
    const repeated = SNMP6 + 'Ip6InDiscards 5\n';
    expect(parseNetstack({ snmp6: repeated }).problems).toEqual([{ file: 'snmp6', protocol: 'Ip6', reason: 'Ip6InDiscards: repeated' }]);
  });

  it('garbage and empty text: problems for every block wanted there, no throw', () => {
    for (const junk of ['', '\n\n', '\u0000\u0001 garbage :: : 12', 'Tcp:\nTcp:\n', 'Tcp: a b\nTcp: 1']) {
      const r = parseNetstack({ snmp: junk, netstat: junk, snmp6: junk });
      expect(r.counters).toEqual([]);
      expect(r.problems.map((p) => p.protocol)).toEqual(['Tcp', 'TcpExt', 'Udp', 'Udp6', 'Ip', 'Ip6']);
    }
  });
});
