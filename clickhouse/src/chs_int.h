/* SPDX-License-Identifier: MIT */
/* Internal to the clickhouse module and its unit tests. */
#ifndef FLOWLOG_CHS_INT_H
#define FLOWLOG_CHS_INT_H

#include <stdbool.h>

/* True for a name that may go into SQL unquoted: [A-Za-z_][A-Za-z0-9_]{0,CHS_NAME_MAX-1}. */
bool chs__name_ok(const char *s);

#endif
