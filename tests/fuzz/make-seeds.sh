#!/bin/sh
# SPDX-License-Identifier: MIT
# Rebuild the decoder seed corpus (corpus/decoder/) from the shared captures.
#
#   tests/fuzz/make-seeds.sh BUILD_DIR [CAPTURES_DIR]
#
# BUILD_DIR holds a built fuzz_seedgen (any build: cmake --build BUILD_DIR -t fuzz_seedgen);
# CAPTURES_DIR defaults to ../shared/captures next to the repository (see its INDEX.md).
# Each seed is one capture's datagram payloads in fuzz_decoder.h's chunk format, cut at
# 8 KB; data-only captures get their template capture as a snapshot chunk in front (-S).
# The captures themselves are never copied. Seeds keep their names, so re-running only
# rewrites them; stale seed-* files are removed first. The fz-* files next to them are
# inputs promoted from fuzz runs (new coverage) and are left alone.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
build=${1:?usage: make-seeds.sh BUILD_DIR [CAPTURES_DIR]}
caps=${2:-$here/../../../shared/captures}
gen=$build/tests/fuzz/fuzz_seedgen
out=$here/corpus/decoder

[ -x "$gen" ] || { echo "make-seeds.sh: $gen not built" >&2; exit 1; }
[ -d "$caps" ] || { echo "make-seeds.sh: no captures at $caps" >&2; exit 1; }
mkdir -p "$out"
rm -f "$out"/seed-*

# seed NAME [-S PCAP]... PCAP...  (paths relative to the captures folder)
seed() {
    name=$1
    shift
    opts=
    files=
    while [ $# -gt 0 ]; do
        if [ "$1" = -S ]; then
            opts="$opts -S $caps/$2"
            shift 2
        else
            files="$files $caps/$1"
            shift
        fi
    done
    # shellcheck disable=SC2086 # word splitting is wanted; the paths have no spaces
    "$gen" $opts "$out/seed-$name" $files
}

# Each capture on its own, in INDEX.md order.
for f in "$caps"/merged/*.pcap "$caps"/native/libnetflow9/*.pcap "$caps"/native/pmacct/*.pcap \
    "$caps"/wrapped-logstash/*.pcap; do
    rel=${f#"$caps"/}
    case $rel in
    native/libnetflow9/*) name=libnetflow9-$(basename "$f" .pcap) ;;
    *) name=$(basename "$f" .pcap) ;;
    esac
    seed "$name" "$rel"
done
for f in data+templates nfv5 mpls physicalinterfaces; do
    seed "akvorado-$f" "native/akvorado/$f.pcap"
done

# Data-only captures with their templates as a snapshot (the FZ_ACT_LOAD path).
a=native/akvorado
seed snap-v9-data -S $a/template.pcap $a/data.pcap
seed snap-v9-options -S $a/options-template.pcap $a/options-data.pcap
seed snap-v9-sampling -S $a/samplingrate-template.pcap $a/samplingrate-data.pcap
seed snap-v9-icmp -S $a/icmp-template.pcap $a/icmp-data.pcap
seed snap-ipfix-datalink -S $a/datalink-template.pcap $a/datalink-data.pcap
seed snap-ipfix-probe -S $a/ipfixprobe-templates.pcap $a/ipfixprobe-data.pcap
seed snap-ipfix-cpid -S $a/juniper-cpid-template.pcap $a/juniper-cpid-data.pcap

# Several exporters and versions through one context: limits, forgetting, interleaving.
seed mix-v5-v9-ipfix native/akvorado/nfv5.pcap wrapped-logstash/ls-v9-softflowd.pcap \
    wrapped-logstash/ls-ipfix-softflowd.pcap
seed mix-many-exporters wrapped-logstash/ls-v9-multi-exporter-nprobe-softflowd.pcap \
    native/pmacct/pmacct-111-IPFIXv10-NFv9-IPv6-IPv4-mix_sources-00.pcap

ls "$out" | wc -l | sed 's/^/make-seeds.sh: seeds: /'
du -sk "$out" | sed 's/^/make-seeds.sh: KB: /'
