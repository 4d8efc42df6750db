#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write the .hex datagram sequences of our own golden cases (one datagram per line).

The .expect files beside them are decdump -v output that was checked by hand against the
values written here; regenerate the .hex with `python3 gen.py` and review any .expect change.
"""
import struct

PEN = 32473


def be(fmt, *v):
    return struct.pack('>' + fmt, *v)


def ipfix(sets, seq, domain=1, t=1763800000):
    body = b''.join(sets)
    return be('HHIII', 10, 16 + len(body), t, seq, domain) + body


def iset(set_id, payload):
    return be('HH', set_id, 4 + len(payload)) + payload


def tmpl(tid, fields, scope=None):
    """fields: (id, len) or (id, len, pen)."""
    out = be('HH', tid, len(fields)) if scope is None else be('HHH', tid, len(fields), scope)
    for f in fields:
        if len(f) == 3:
            out += be('HHI', f[0] | 0x8000, f[1], f[2])
        else:
            out += be('HH', f[0], f[1])
    return out


def varlen(b):
    return bytes([len(b)]) + b if len(b) < 255 else b'\xff' + be('H', len(b)) + b


def v4(a):
    return bytes(int(x) for x in a.split('.'))


def v9(flowsets, seq, uptime=3600000, t=1763800000, source=7):
    body = b''.join(flowsets)
    return be('HHIIII', 9, 0, uptime, t, seq, source) + body


def fset(fid, payload):
    pad = (-(4 + len(payload))) % 4
    return be('HH', fid, 4 + len(payload) + pad) + payload + b'\0' * pad


def write(name, comment, grams):
    with open(name + '.hex', 'w') as f:
        f.write('# ' + comment.replace('\n', '\n# ') + '\n')
        for g in grams:
            if isinstance(g, str):
                f.write(g + '\n')
            else:
                f.write(g.hex() + '\n')


# 1. Withdrawal and redefinition.
T7 = [(8, 4), (12, 4), (7, 2), (11, 2), (4, 1), (2, 4), (1, 4)]
rec7 = lambda s, d, sp, dp, p, pk, by: v4(s) + v4(d) + be('HHBII', sp, dp, p, pk, by)
write('ipfix-withdraw',
      'IPFIX: template 256, one record; template 256 withdrawn; a data set for 256 is parked\n'
      '(and never decoded: counted no-template); a new template 256 with another layout and\n'
      'one record; then withdraw-all (id 2) and a data set that parks again.',
      [ipfix([iset(2, tmpl(256, T7)), iset(256, rec7('10.0.0.1', '10.0.0.2', 1000, 80, 6, 3, 180))], 0),
       ipfix([iset(2, tmpl(256, []))], 1),
       ipfix([iset(256, rec7('10.9.9.9', '10.9.9.8', 1, 2, 17, 1, 1))], 1),
       ipfix([iset(2, tmpl(256, [(12, 4), (8, 4), (1, 8)])),
              iset(256, v4('192.0.2.20') + v4('192.0.2.10') + be('Q', 5000000000))], 2),
       ipfix([iset(2, tmpl(2, []))], 3),
       ipfix([iset(256, v4('192.0.2.20') + v4('192.0.2.10') + be('Q', 1))], 3)])

# 2. Identity from options data and per record, rtt, varlen with 3-byte length.
opt = tmpl(300, [(149, 4), (1, 65535, PEN), (2, 65535, PEN), (3, 65535, PEN)], scope=1)
T_id = [(8, 4), (12, 4), (4, 1), (2, 8), (1, 8), (152, 8), (153, 8)]
T_rec = T_id + [(1, 65535, PEN), (4, 4, PEN), (9999, 65535, 4242)]
t0 = 1763800000000
write('ipfix-identity',
      'IPFIX: an options record (scope observationDomainId) carries flowprobe\'s identity\n'
      '(PEN 32473 IEs 1-3); records of template 256 inherit it. Template 257 carries its own\n'
      'instance-id (overriding), rtt (IE 4) and an unknown enterprise IE (4242.9999) whose\n'
      '300-byte value uses the 3-byte length form and is too big for raw[] (+trunc).',
      [ipfix([iset(3, opt), iset(300, be('I', 1) + varlen(b'sag-0001') + varlen(b'SN123') + varlen(b'1234567890')),
              iset(2, tmpl(256, T_id) + tmpl(257, T_rec)),
              iset(256, v4('10.1.1.1') + v4('8.8.8.8') + be('BQQQQ', 17, 2, 150, t0, t0 + 40)),
              iset(257, v4('10.1.1.2') + v4('1.1.1.1') + be('BQQQQ', 6, 10, 900, t0, t0 + 900)
                   + varlen(b'sag-override') + be('I', 1500) + varlen(b'x' * 300))], 0)])

# 3. v9: data before its template across datagrams, sampling from options data, reduced size.
Tv9 = [(8, 4), (12, 4), (7, 2), (11, 2), (4, 1), (2, 2), (1, 3), (22, 4), (21, 4)]
rv9 = lambda s, d: v4(s) + v4(d) + be('HHBH', 5353, 53, 17, 4) + (300).to_bytes(3, 'big') + be('II', 3590000, 3599000)
optv9 = be('HHH', 257, 4, 8) + be('HH', 1, 4) + be('HH', 34, 4) + be('HH', 35, 1)
write('v9-parked-sampling',
      'NetFlow v9: datagram 1 carries data for template 260 before any template (parked).\n'
      'Datagram 2: options template 257 (scope System) with samplingInterval 100 and its data,\n'
      'then template 260: the parked set is decoded (sampling 100 applies), then a record of\n'
      'its own. Counters use reduced-size encoding (2 and 3 bytes).',
      [v9([fset(260, rv9('10.2.0.1', '10.2.0.2'))], 0),
       v9([fset(1, optv9), fset(257, be('I', 0) + be('IB', 100, 2)),
           fset(0, tmpl(260, Tv9)), fset(260, rv9('10.2.0.3', '10.2.0.4'))], 1, uptime=3601000, t=1763800001)])

# 4. Action, direction, ICMP.
Tact = [(8, 4), (12, 4), (4, 1), (32, 2), (7, 2), (11, 2), (61, 1), (89, 1), (2, 8), (1, 8)]
ra = lambda p, tc, sp, dp, d, fs: v4('172.16.0.1') + v4('172.16.0.2') + be('BHHHBBQQ', p, tc, sp, dp, d, fs, 1, 84)
Tfw = [(8, 4), (12, 4), (4, 1), (7, 2), (11, 2), (233, 1)]
write('ipfix-action-icmp',
      'IPFIX: forwardingStatus 0x40 (forwarded) and 0x82 (dropped, reason 2); flowDirection 0,\n'
      '1 and 255 (unknown); ICMP echo request (type 8 code 0) via icmpTypeCodeIPv4 on protocol\n'
      '1, and the same field ignored on TCP; firewallEvent 3 (denied) and 1 (created).',
      [ipfix([iset(2, tmpl(256, Tact) + tmpl(258, Tfw)),
              iset(256, ra(1, 0x0800, 0, 0, 0, 0x40) + ra(6, 0x0800, 443, 50000, 1, 0x82) + ra(17, 0, 53, 53, 255, 0x40)),
              iset(258, v4('203.0.113.5') + v4('198.51.100.7') + be('BHHB', 6, 40000, 22, 3)
                   + v4('203.0.113.5') + v4('198.51.100.7') + be('BHHB', 6, 40001, 443, 1))], 0)])

# 5. Time elements.
Tntp = [(8, 4), (12, 4), (154, 8), (155, 8)]
ntp = lambda ms: be('II', ms // 1000 + 2208988800, ((ms % 1000) << 32) // 1000 + 1)
Tdelta = [(8, 4), (12, 4), (158, 4), (159, 4)]
Tup = [(8, 4), (12, 4), (22, 4), (21, 4)]
Tinit = tmpl(310, [(149, 4), (160, 8)], scope=1)
Tdur = [(8, 4), (12, 4), (150, 4), (161, 4)]
Tnone = [(8, 4), (12, 4), (2, 4)]
write('ipfix-times',
      'IPFIX times: NTP microsecond IEs 154/155; deltas 158/159 before the export time\n'
      '(1763800000 s); sysUpTime 22/21 before and after systemInitTimeMilliseconds (IE 160)\n'
      'arrives in options data (before: both ends are the export time); flowStartSeconds with\n'
      'a duration (161); a record with no time at all.',
      [ipfix([iset(2, tmpl(256, Tntp) + tmpl(257, Tdelta) + tmpl(258, Tup) + tmpl(259, Tdur) + tmpl(260, Tnone)),
              iset(256, v4('10.5.0.1') + v4('10.5.0.2') + ntp(1763799990123) + ntp(1763799995456)),
              iset(257, v4('10.5.0.3') + v4('10.5.0.4') + be('II', 30000000, 1500000)),
              iset(258, v4('10.5.0.5') + v4('10.5.0.6') + be('II', 1000, 2000))], 0),
       ipfix([iset(3, Tinit), iset(310, be('IQ', 1, 1763700000000)),
              iset(258, v4('10.5.0.7') + v4('10.5.0.8') + be('II', 1000, 2000)),
              iset(259, v4('10.5.0.9') + v4('10.5.0.10') + be('II', 1763799000, 2500)),
              iset(260, v4('10.5.0.11') + v4('10.5.0.12') + be('I', 7))], 3, t=1763800001)])

# 6. A template set that cannot be read discards the whole message (issue 11, point 8).
bad_tmpl = tmpl(300, [(2, 4)]) + be('HH', 301, 1000) + be('HH', 1, 4)
write('ipfix-malformed-template',
      'IPFIX: a message with a data set for 256 (before its template) and a template set whose\n'
      'second record claims 1000 fields is discarded whole (counted template): its data set is\n'
      'not parked, and its good template 300 is not kept. Then template 256 with one record:\n'
      'only that record comes out (before: the parked record came out too), and a data set\n'
      'for 300 is parked, never decoded.',
      [ipfix([iset(256, rec7('10.6.0.1', '10.6.0.2', 1, 2, 17, 9, 900)), iset(2, bad_tmpl)], 0),
       ipfix([iset(2, tmpl(256, T7)), iset(256, rec7('10.6.0.3', '10.6.0.4', 3, 4, 6, 2, 120))], 1),
       ipfix([iset(300, be('I', 5))], 2)])
