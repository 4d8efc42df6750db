#!/usr/bin/env python3
# gen-expect.py - generate the golden ".expect" files for flowlog's decoder tests.
#
# USAGE (from anywhere; paths default relative to the repository root):
#     python3 tests/golden/gen-expect.py [CAPTURES_DIR] [--only SUBSTR] [--check] [-v]
#
#   CAPTURES_DIR  directory holding the shared export captures
#                 (default: ../shared/captures, relative to the repo root)
#   --only SUBSTR regenerate only LIST entries whose path contains SUBSTR
#   --check       do not write; exit 1 if any .expect file would change
#   -v            print per-record cross-check details
#
# INPUT: tests/golden/captures/LIST, one capture per line:
#     <path relative to CAPTURES_DIR> <udp port(s) to decode as cflow, comma separated>
#
# OUTPUT: for each LIST entry, tests/golden/captures/<path with "/" -> "__" and
# ".pcap" -> ".expect">, one line per FLOW data record that tshark decodes
# (NetFlow v5 records, v9/IPFIX records of data templates; records of options
# templates are not written), lines sorted.  The C dump tool prints the same
# canonical line and the test compares the two as sorted multisets:
#
#   v=<5|9|10> exp=<exporter ip>:<udp src port> dom=<domain> src=<srcaddr>
#   dst=<dstaddr> sport=<n> dport=<n> proto=<n> pkts=<n> bytes=<n> tos=<n>
#   flags=<n> in=<n> out=<n> dir=<in|out> start=<ms> end=<ms>
#
# (all on one line, single spaces; "-" for anything the record does not carry).
# The full field rules are in tests/golden/captures/NOTES.md.
#
# HOW: tshark (4.0) is run with "-T pdml -d udp.port==P,cflow" and the script
# walks tshark's own tree: tshark decides which packets are export datagrams,
# which sets decode, which template a data set uses ("Template Frame") and
# where every record starts and ends ("pdu N/M" for v5, "Flow N" for v9/IPFIX).
# The IE of each value is taken from the template tshark displayed (its raw
# bytes), and the value from the record's raw bytes that tshark displayed
# (so reduced-size encodings of any length 1..8 come out right).  Each record's
# addresses, ports, protocol, counters, interfaces and absolute times are
# cross-checked against the values tshark itself printed (cflow.srcaddr,
# cflow.packets, cflow.abstimestart, ...); any disagreement is reported on
# stderr ("XCHECK") and the run exits non-zero.
#
# Requires: python3 (stdlib only), tshark on PATH.  Run with TZ unset/any: all
# time arithmetic is done on raw integers, tshark's printed times are UTC.
import argparse
import collections
import ipaddress
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
GOLDEN = os.path.join(REPO, 'tests', 'golden', 'captures')
NTP_EPOCH_OFFSET = 2208988800  # seconds from 1900-01-01 to 1970-01-01

MONTHS = {m: i + 1 for i, m in enumerate(
    'Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec'.split())}


def s32(x):
    """Interpret x (mod 2^32) as a signed 32-bit integer."""
    x &= 0xffffffff
    return x - (1 << 32) if x & 0x80000000 else x


def uint(b):
    return int.from_bytes(b, 'big')


def ntp_to_ms(v):
    """64-bit NTP timestamp (seconds since 1900 . 32-bit fraction) -> epoch ms (floor)."""
    secs = v >> 32
    frac = v & 0xffffffff
    return (secs - NTP_EPOCH_OFFSET) * 1000 + ((frac * 1000) >> 32)


def tshark_abs_to_ms(show):
    """'Jun  4, 2023 08:39:53.216000000 UTC' -> epoch ms (floor)."""
    import calendar
    m = re.match(r'(\w{3})\s+(\d+), (\d+) (\d+):(\d+):(\d+)(?:\.(\d+))?', show)
    if not m:
        return None
    mon, d, y, hh, mm, ss, frac = m.groups()
    t = calendar.timegm((int(y), MONTHS[mon], int(d), int(hh), int(mm), int(ss)))
    ms = int(((frac or '0') + '000')[:3])
    return t * 1000 + ms


def run_tshark(path, ports):
    args = ['tshark', '-n', '-r', path, '-T', 'pdml']
    for p in ports:
        args += ['-d', 'udp.port==%s,cflow' % p]
    r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if r.returncode != 0 and not r.stdout:
        raise RuntimeError('tshark failed on %s: %s' % (path, r.stderr.decode(errors='replace')))
    return ET.fromstring(r.stdout)


def hexbytes(el):
    v = el.get('value') or ''
    try:
        return bytes.fromhex(v)
    except ValueError:
        return b''


# ---------------------------------------------------------------- templates
class Template:
    def __init__(self, tid, kind, fields):
        self.tid = tid
        self.kind = kind          # 'data' or 'options'
        self.fields = fields      # list of (ie, pen, length); pen 'scope' for v9 scope fields

    def __repr__(self):
        return 'Template(%d,%s,%r)' % (self.tid, self.kind, self.fields)


def parse_template(raw, version, options):
    """Parse one template record from its raw bytes (as tshark displayed it)."""
    if len(raw) < 4:
        return None
    tid = uint(raw[0:2])
    fields = []
    if version == 9:
        if not options:
            count = uint(raw[2:4])
            off = 4
            for _ in range(count):
                if off + 4 > len(raw):
                    break
                fields.append((uint(raw[off:off + 2]), 0, uint(raw[off + 2:off + 4])))
                off += 4
        else:
            if len(raw) < 6:
                return Template(tid, 'options', [])
            scope_len = uint(raw[2:4])
            opt_len = uint(raw[4:6])
            off = 6
            for i in range((scope_len + opt_len) // 4):
                if off + 4 > len(raw):
                    break
                pen = 'scope' if i < scope_len // 4 else 0
                fields.append((uint(raw[off:off + 2]), pen, uint(raw[off + 2:off + 4])))
                off += 4
    else:  # IPFIX
        count = uint(raw[2:4])
        off = 6 if options else 4
        for _ in range(count):
            if off + 4 > len(raw):
                break
            t = uint(raw[off:off + 2])
            ln = uint(raw[off + 2:off + 4])
            off += 4
            pen = 0
            if t & 0x8000:
                t &= 0x7fff
                pen = uint(raw[off:off + 4])
                off += 4
            fields.append((t, pen, ln))
    return Template(tid, 'options' if options else 'data', fields)


def split_record(tpl, raw):
    """-> (dict ie -> bytes for IANA (pen 0) fields, first occurrence wins; truncated?)"""
    vals = {}
    off = 0
    for ie, pen, ln in tpl.fields:
        if ln == 65535:
            if off >= len(raw):
                return vals, True
            ln = raw[off]
            off += 1
            if ln == 255:
                if off + 2 > len(raw):
                    return vals, True
                ln = uint(raw[off:off + 2])
                off += 2
        if off + ln > len(raw):
            return vals, True
        if pen == 0 and ie not in vals:
            vals[ie] = raw[off:off + ln]
        off += ln
    return vals, False


# ---------------------------------------------------------------- records
FMT = ('v={v} exp={exp} dom={dom} src={src} dst={dst} sport={sport} dport={dport} '
       'proto={proto} pkts={pkts} bytes={bytes} tos={tos} flags={flags} in={inp} '
       'out={out} dir={dir} start={start} end={end}')


def addr_str(b):
    if len(b) == 4:
        return str(ipaddress.IPv4Address(b))
    if len(b) == 16:
        return str(ipaddress.IPv6Address(b))
    return None


class FileState:
    def __init__(self):
        self.templates = {}                  # (frame, template id) -> Template
        self.sysinit = {}                    # (exporter ip, dom) -> ms (IE 160 from options records)
        self.lines = []
        self.n_flow = 0
        self.n_opt = 0
        self.notes = collections.Counter()   # free-form observations
        self.xcheck = []                     # cross-check failures
        self.sources = collections.Counter() # which IE fed which column


def v9_ipfix_record(st, version, hdr, vals, exp_ip, exp_port, dom, tshark_vals, where):
    """Build the canonical line for one v9/IPFIX flow record."""
    def u(ie):
        return uint(vals[ie]) if ie in vals else None

    out = {'v': version, 'exp': '%s:%s' % (exp_ip, exp_port), 'dom': dom}

    # addresses: IPv4 wins over IPv6, unless it is 0.0.0.0 and the IPv6 one is not ::
    for col, v4, v6 in (('src', 8, 27), ('dst', 12, 28)):
        a = None
        for ie in (v4, v6):
            if ie in vals:
                a = addr_str(vals[ie])
                if a is not None:
                    st.sources['%s<-IE%d' % (col, ie)] += 1
                    break
                st.notes['IE %d with length %d ignored' % (ie, len(vals[ie]))] += 1
        if v4 in vals and v6 in vals:
            st.notes['record carries both IE %d and IE %d' % (v4, v6)] += 1
            if a == '0.0.0.0' and addr_str(vals[v6]) not in (None, '::'):
                a = addr_str(vals[v6])
                st.notes['IE %d is 0.0.0.0 while IE %d is not: IPv6 printed' % (v4, v6)] += 1
        out[col] = a if a is not None else '-'

    proto = u(4)
    out['proto'] = proto if proto is not None else '-'
    sport, dport = u(7), u(11)
    if proto in (1, 58):
        v4first = proto == 1
        tc = None
        order = ((32, 176, 177), (139, 178, 179))
        if not v4first:
            order = order[::-1]
        # prefer a present type/code IE of the matching family; fall back to the other family
        for tcie, tie, cie in order:
            if tcie in vals:
                tc = (tcie, u(tcie))
                break
            if tie in vals or cie in vals:
                tc = ('%d/%d' % (tie, cie), (u(tie) or 0) * 256 + (u(cie) or 0))
                break
        if tc is not None:
            st.sources['icmp<-IE%s' % tc[0]] += 1
            if (sport or dport) and (sport, dport) != (0, tc[1]):
                st.notes['ICMP record: ports %s/%s replaced by type/code 0/%d' % (sport, dport, tc[1])] += 1
            sport, dport = 0, tc[1]
    out['sport'] = sport if sport is not None else '-'
    out['dport'] = dport if dport is not None else '-'

    for col, ies in (('pkts', (2, 86)), ('bytes', (1, 85))):
        val = '-'
        for ie in ies:
            if ie in vals:
                val = u(ie)
                st.sources['%s<-IE%d' % (col, ie)] += 1
                break
        out[col] = val
    for col, ie in (('tos', 5), ('flags', 6), ('inp', 10), ('out', 14)):
        val = u(ie)
        out[col] = val if val is not None else '-'
        if val is not None and ie == 6 and len(vals[6]) != 1:
            st.sources['flags<-IE6 len %d' % len(vals[6])] += 1
    d = u(61)
    if d is None:
        out['dir'] = '-'
    elif d in (0, 1):
        out['dir'] = ('in', 'out')[d]
    else:
        out['dir'] = '-'
        st.notes['flowDirection value %d printed as "-"' % d] += 1

    # ---- times
    if version == 9:
        export_ms = hdr['unix_secs'] * 1000
    else:
        export_ms = hdr['exporttime'] * 1000

    def side(abs_ies, sysup_ie, delta_ie):
        ms_ie, s_ie, us_ie, ns_ie = abs_ies
        if ms_ie in vals:
            st.sources['time<-IE%d' % ms_ie] += 1
            return u(ms_ie)
        if us_ie in vals:
            st.sources['time<-IE%d' % us_ie] += 1
            return ntp_to_ms(u(us_ie))
        if ns_ie in vals:
            st.sources['time<-IE%d' % ns_ie] += 1
            return ntp_to_ms(u(ns_ie))
        if s_ie in vals:
            st.sources['time<-IE%d' % s_ie] += 1
            return u(s_ie) * 1000
        if sysup_ie in vals:
            if version == 9:
                st.sources['time<-IE%d(v9 sysuptime)' % sysup_ie] += 1
                return export_ms - s32(hdr['sysuptime'] - u(sysup_ie))
            init = u(160)
            if init is None:
                init = st.sysinit.get((exp_ip, dom))
                if init is not None:
                    st.sources['time<-IE%d+IE160(options)' % sysup_ie] += 1
            else:
                st.sources['time<-IE%d+IE160(record)' % sysup_ie] += 1
            if init is None:
                st.sources['time<-IE%d, no IE160 -> export time' % sysup_ie] += 1
                return export_ms
            return init + u(sysup_ie)
        if delta_ie in vals:
            st.sources['time<-IE%d' % delta_ie] += 1
            return export_ms - u(delta_ie) // 1000
        return None

    start = side((152, 150, 154, 156), 22, 158)
    end = side((153, 151, 155, 157), 21, 159)
    dur = None
    if 161 in vals:
        dur = u(161)
    elif 162 in vals:
        dur = u(162) // 1000
    if start is None and end is None:
        start = end = export_ms
        st.sources['time: none -> export time'] += 1
    elif start is None:
        start = end - dur if dur is not None else end
        st.sources['time: start derived from end%s' % ('+duration' if dur is not None else '')] += 1
    elif end is None:
        end = start + dur if dur is not None else start
        st.sources['time: end derived from start%s' % ('+duration' if dur is not None else '')] += 1
    out['start'], out['end'] = start, end

    # ---- cross-check against tshark's own printed values
    checks = (('src', 8, 'cflow.srcaddr'), ('dst', 12, 'cflow.dstaddr'),
              ('src', 27, 'cflow.srcaddrv6'), ('dst', 28, 'cflow.dstaddrv6'),
              (None, 7, 'cflow.srcport'), (None, 11, 'cflow.dstport'),
              ('proto', 4, 'cflow.protocol'), ('pkts', 2, 'cflow.packets'),
              ('bytes', 1, 'cflow.octets'), ('inp', 10, 'cflow.inputint'),
              ('out', 14, 'cflow.outputint'))
    for col, ie, name in checks:
        if ie not in vals or name not in tshark_vals:
            continue
        mine = addr_str(vals[ie]) if ie in (8, 12, 27, 28) else str(u(ie))
        if mine not in tshark_vals[name]:
            st.xcheck.append('%s: IE %d = %s but tshark %s = %s' % (where, ie, mine, name, tshark_vals[name]))
    for ies, name in (((152, 150, 154, 156), 'cflow.abstimestart'), ((153, 151, 155, 157), 'cflow.abstimeend')):
        if name in tshark_vals and any(i in vals for i in ies):
            mine = start if 'start' in name else end
            theirs = [tshark_abs_to_ms(s) for s in tshark_vals[name]]
            if mine not in theirs:
                st.xcheck.append('%s: %s mine=%s tshark=%s' % (where, name, mine, tshark_vals[name]))
    return FMT.format(**out)


def v5_record(st, hdr, raw, exp_ip, exp_port, where, tshark_vals):
    if len(raw) < 48:
        st.notes['v5 record shorter than 48 bytes skipped'] += 1
        return None
    export_ms = hdr['unix_secs'] * 1000 + hdr['unix_nsecs'] // 1000000
    first, last = uint(raw[24:28]), uint(raw[28:32])
    out = {
        'v': 5, 'exp': '%s:%s' % (exp_ip, exp_port),
        'dom': (hdr['engine_type'] << 8) | hdr['engine_id'],
        'src': addr_str(raw[0:4]), 'dst': addr_str(raw[4:8]),
        'inp': uint(raw[12:14]), 'out': uint(raw[14:16]),
        'pkts': uint(raw[16:20]), 'bytes': uint(raw[20:24]),
        'sport': uint(raw[32:34]), 'dport': uint(raw[34:36]),
        'flags': raw[37], 'proto': raw[38], 'tos': raw[39], 'dir': '-',
        'start': export_ms - s32(hdr['sysuptime'] - first),
        'end': export_ms - s32(hdr['sysuptime'] - last),
    }
    for col, name in (('src', 'cflow.srcaddr'), ('dst', 'cflow.dstaddr'), ('sport', 'cflow.srcport'),
                      ('dport', 'cflow.dstport'), ('proto', 'cflow.protocol'), ('pkts', 'cflow.packets'),
                      ('bytes', 'cflow.octets'), ('inp', 'cflow.inputint'), ('out', 'cflow.outputint')):
        if name in tshark_vals and str(out[col]) not in tshark_vals[name]:
            st.xcheck.append('%s: v5 %s = %s but tshark %s = %s' % (where, col, out[col], name, tshark_vals[name]))
    return FMT.format(**out)


def collect_tshark_vals(el):
    d = collections.defaultdict(list)
    for f in el.iter('field'):
        n = f.get('name')
        if n and n.startswith('cflow.') and f.get('show') is not None:
            d[n].append(f.get('show'))
    return d


def hdr_fields(cflow):
    h = {}
    for c in cflow:
        n = c.get('name') or ''
        if n.startswith('cflow.'):
            h[n] = c
            for cc in c:
                nn = cc.get('name') or ''
                if nn.startswith('cflow.'):
                    h[nn] = cc
    out = {}
    for key, name in (('version', 'cflow.version'), ('sysuptime', 'cflow.sysuptime'),
                      ('unix_secs', 'cflow.unix_secs'), ('unix_nsecs', 'cflow.unix_nsecs'),
                      ('exporttime', 'cflow.exporttime'), ('engine_type', 'cflow.engine_type'),
                      ('engine_id', 'cflow.engine_id'), ('source_id', 'cflow.source_id'),
                      ('od_id', 'cflow.od_id')):
        if name in h:
            out[key] = uint(hexbytes(h[name]))
    return out


def aborted_in(rec):
    """True if tshark's cflow dissector threw an exception inside this record
    (a _ws.malformed marker in the record's own tree, not inside a
    sub-dissector's proto, e.g. the frame carried in dataLinkFrameSection)."""
    stack = list(rec)
    while stack:
        e = stack.pop()
        if e.tag == 'proto':
            if e.get('name') == '_ws.malformed':
                return True
            continue
        stack.extend(list(e))
    return False


PDU_RE = re.compile(r'^(pdu \d+/\d+|Flow \d+)$')


def process_file(path, ports, verbose=False):
    st = FileState()
    root = run_tshark(path, ports)
    for pkt in root.iter('packet'):
        frame = None
        protos = []
        for pr in pkt:
            if pr.tag != 'proto':
                continue
            if pr.get('name') == 'geninfo':
                for f in pr:
                    if f.get('name') == 'num':
                        frame = int(f.get('show'))
            protos.append(pr)
        names = [p.get('name') for p in protos]
        if 'cflow' not in names:
            continue
        if 'icmp' in names or 'icmpv6' in names or 'udp' not in names:
            st.notes['frame(s) with cflow quoted inside ICMP (or not over top-level UDP) ignored'] += 1
            continue
        exp_ip = exp_port = None
        for p in protos:
            if p.get('name') in ('ip', 'ipv6') and exp_ip is None:
                for f in p.iter('field'):
                    if f.get('name') in ('ip.src', 'ipv6.src'):
                        exp_ip = str(ipaddress.ip_address(f.get('show')))
                        break
            if p.get('name') == 'udp' and exp_port is None:
                for f in p.iter('field'):
                    if f.get('name') == 'udp.srcport':
                        exp_port = int(f.get('show'))
                        break
        for cflow in (p for p in protos if p.get('name') == 'cflow'):
            for f in cflow.iter('field'):
                if (f.get('name') or '').startswith('_ws.expert') and f.get('showname'):
                    st.notes['tshark expert: %s' % f.get('showname')] += 1
            for pr in cflow.iter('proto'):
                if pr.get('name') == '_ws.malformed':
                    st.notes['tshark: Malformed Packet in frame %d' % frame] += 1
            hdr = hdr_fields(cflow)
            version = hdr.get('version')
            if version == 5:
                for c in cflow:
                    if c.get('name') == '' and PDU_RE.match(c.get('show') or ''):
                        where = '%s frame %d %s' % (os.path.basename(path), frame, c.get('show'))
                        if aborted_in(c):
                            st.notes['v5 record aborted by tshark exception not counted: frame %d %s'
                                     % (frame, c.get('show'))] += 1
                            continue
                        line = v5_record(st, hdr, hexbytes(c), exp_ip, exp_port, where, collect_tshark_vals(c))
                        if line:
                            st.lines.append(line)
                            st.n_flow += 1
                continue
            if version not in (9, 10):
                st.notes['cflow version %s in frame %d ignored' % (version, frame)] += 1
                continue
            dom = hdr.get('source_id') if version == 9 else hdr.get('od_id')
            for fs in cflow:
                if fs.get('name') != '':
                    continue
                fsid = tfr = None
                for c in fs:
                    if c.get('name') == 'cflow.flowset_id':
                        fsid = int(c.get('show'))
                    elif c.get('name') == 'cflow.template_frame':
                        tfr = int(c.get('show'))
                if fsid is None:
                    continue
                set_raw, set_pos = hexbytes(fs), int(fs.get('pos'))
                if fsid in (0, 1, 2, 3):
                    options = fsid in (1, 3)
                    for c in fs:
                        s = c.get('show') or ''
                        if c.get('name') == '' and (s.startswith('Template (') or s.startswith('Options Template (')):
                            # tshark's template item under-states its size when enterprise
                            # numbers are present: parse from the set bytes at its start.
                            t = parse_template(set_raw[int(c.get('pos')) - set_pos:], version, options)
                            nshown = sum(1 for f in c if (f.get('show') or '').startswith('Field ('))
                            if t is not None and len(t.fields) != nshown:
                                st.xcheck.append('frame %d template %d: parsed %d fields, tshark shows %d'
                                                 % (frame, t.tid, len(t.fields), nshown))
                            if t is not None and t.fields:
                                st.templates[(frame, t.tid)] = t
                    continue
                if fsid < 256:
                    continue
                recs = [c for c in fs if c.get('name') == '' and PDU_RE.match(c.get('show') or '')]
                if not recs:
                    continue
                tpl = st.templates.get((tfr, fsid))
                if tpl is None:
                    st.xcheck.append('frame %d set %d: tshark decoded %d records with template frame %s, '
                                     'but no such template parsed' % (frame, fsid, len(recs), tfr))
                    continue
                for c in recs:
                    where = '%s frame %d set %d %s' % (os.path.basename(path), frame, fsid, c.get('show'))
                    if aborted_in(c):
                        # tshark threw an exception inside this record: it shows a
                        # partial record and stops decoding the packet -> not counted.
                        st.notes['record aborted by tshark exception (Malformed) not counted: frame %d set %d %s'
                                 % (frame, fsid, c.get('show'))] += 1
                        continue
                    # tshark's "Flow N" item does not span variable-length fields, so
                    # take the record bytes from the set, starting where tshark put the record.
                    raw = set_raw[int(c.get('pos')) - set_pos:]
                    vals, trunc = split_record(tpl, raw)
                    if trunc:
                        st.notes['record shorter than its template (frame %d set %d)' % (frame, fsid)] += 1
                    if tpl.kind == 'options':
                        st.n_opt += 1
                        if 160 in vals:
                            st.sysinit[(exp_ip, dom)] = uint(vals[160])
                            st.notes['IE 160 systemInitTimeMilliseconds seen in options record'] += 1
                        continue
                    st.n_flow += 1
                    st.lines.append(v9_ipfix_record(st, version, hdr, vals, exp_ip, exp_port, dom,
                                                    collect_tshark_vals(c), where))
    return st


def expect_name(relpath):
    return relpath.replace('/', '__')[:-len('.pcap')] + '.expect' if relpath.endswith('.pcap') \
        else relpath.replace('/', '__') + '.expect'


def main():
    ap = argparse.ArgumentParser(description='Generate tests/golden/captures/*.expect from tshark.')
    ap.add_argument('captures', nargs='?', default=os.path.join(REPO, '..', 'shared', 'captures'))
    ap.add_argument('--only', default=None)
    ap.add_argument('--check', action='store_true')
    ap.add_argument('-v', '--verbose', action='store_true')
    a = ap.parse_args()
    caps = a.captures
    if not os.path.isabs(caps) and not os.path.isdir(caps):
        caps = os.path.join(REPO, caps)   # relative to the repo root

    entries = []
    with open(os.path.join(GOLDEN, 'LIST')) as f:
        for line in f:
            line = line.split('#', 1)[0].strip()
            if not line:
                continue
            rel, ports = line.split()
            entries.append((rel, ports.split(',')))

    bad = 0
    changed = 0
    for rel, ports in entries:
        if a.only and a.only not in rel:
            continue
        st = process_file(os.path.join(caps, rel), ports, a.verbose)
        text = ''.join(l + '\n' for l in sorted(st.lines))
        dst = os.path.join(GOLDEN, expect_name(rel))
        old = open(dst).read() if os.path.exists(dst) else None
        if old != text:
            changed += 1
            if not a.check:
                with open(dst, 'w') as f:
                    f.write(text)
        print('%-80s flows=%-4d opts=%-4d%s' % (rel, st.n_flow, st.n_opt,
                                               '' if old == text else ' (changed)'))
        if a.verbose:
            for k, v in sorted(st.sources.items()):
                print('    src  %s: %d' % (k, v))
            for k, v in sorted(st.notes.items()):
                print('    note %s%s' % (k, (' x%d' % v) if v > 1 else ''))
        for x in st.xcheck:
            print('XCHECK ' + x, file=sys.stderr)
            bad += 1
    if bad:
        print('%d cross-check failure(s)' % bad, file=sys.stderr)
        return 1
    if a.check and changed:
        print('%d .expect file(s) out of date' % changed, file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
