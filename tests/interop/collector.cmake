# SPDX-License-Identifier: MIT
# flowlogd against nfcapd on the same input (issue 4).
