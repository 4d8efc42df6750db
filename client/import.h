/* SPDX-License-Identifier: MIT */
/*
 * flowlog import (import.c): argv[0] is "import", then [--to HOST:PORT] DIR|FILE...
 * Returns the exit status: 0 all imported, 1 some lines skipped or a failure midway, 2 usage
 * or no connection.
 */
#ifndef FLOWLOG_CLIENT_IMPORT_H
#define FLOWLOG_CLIENT_IMPORT_H

int flowlog_import(int argc, char **argv);

#endif
