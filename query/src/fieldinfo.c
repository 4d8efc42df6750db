/* SPDX-License-Identifier: MIT */
/* The field table, public: for the HTTP API's /api/v1/fields and editors' completion. */
#include "qry_int.h"

static const char *const kind_names[] = {
    [K_NUM] = "number", [K_TIME] = "time", [K_ADDR] = "address",
    [K_TEXT] = "text",  [K_ENUM] = "enum",
};

const char *
qry_field_info(size_t i, const char **type, bool *deflt)
{
    if (i >= F_NFIELDS) {
        return NULL;
    }
    *type = kind_names[qry__fields[i].kind];
    *deflt = false;
    for (size_t j = 0; j < qry__ndefault_cols; j++) {
        *deflt = *deflt || qry__default_cols[j] == i;
    }
    return qry__fields[i].name;
}
