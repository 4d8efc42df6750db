# SPDX-License-Identifier: MIT
# flowprobe against softflowd, nfcapd/nfdump and tshark (issue 6).
