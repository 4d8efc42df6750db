/* SPDX-License-Identifier: MIT */
/*
 * FLOWLOG CREATE | DESCRIBE | MODIFY | START | STOP | DELETE (DESIGN.md §5,
 * docs/protocol.md "FLOWLOG"): argument parsing onto storage's flow-log calls.
 *
 *   FLOWLOG CREATE <name> [key=value ...]     keys below; values may be "quoted"
 *   FLOWLOG MODIFY <name> key=value ...
 *   FLOWLOG DESCRIBE [<name>]                 one row per flow log
 *   FLOWLOG START|STOP <name>
 *   FLOWLOG DELETE <name> [purge]
 *
 * keys: window=60|600 traffic=all|accept|reject aggregate=on|off active=on|off
 *       description=TEXT exporters=CIDR,... domains=N,... instances=ID,...
 *       account-id= instance-id= region= vpc-id= eni-id=
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "qry_int.h"

#define MAX_ARGS 32

struct args {
    size_t n;
    char *v[MAX_ARGS];
    char buf[QRY_LINE_MAX + 1];
};

/* Split on blanks; "..." groups (with \" and \\), also inside key="a b". */
static int
split(const char *s, struct args *a, char *msg, size_t msglen)
{
    size_t o = 0;
    a->n = 0;
    while (*s != '\0') {
        while (*s == ' ' || *s == '\t') {
            s++;
        }
        if (*s == '\0') {
            break;
        }
        if (a->n == MAX_ARGS) {
            snprintf(msg, msglen, "at most %d arguments", MAX_ARGS);
            return -EINVAL;
        }
        a->v[a->n++] = a->buf + o;
        bool quoted = false;
        while (*s != '\0' && (quoted || (*s != ' ' && *s != '\t'))) {
            if (*s == '"') {
                quoted = !quoted;
                s++;
                continue;
            }
            if (quoted && *s == '\\' && (s[1] == '"' || s[1] == '\\')) {
                s++;
            }
            a->buf[o++] = *s++;
        }
        if (quoted) {
            snprintf(msg, msglen, "unterminated string (missing '\"')");
            return -EINVAL;
        }
        a->buf[o++] = '\0';
    }
    return 0;
}

static int
set_bool(const char *v, bool *out)
{
    if (!strcasecmp(v, "on") || !strcasecmp(v, "yes") || !strcasecmp(v, "true") ||
        !strcmp(v, "1")) {
        *out = true;
    } else if (!strcasecmp(v, "off") || !strcasecmp(v, "no") || !strcasecmp(v, "false") ||
               !strcmp(v, "0")) {
        *out = false;
    } else {
        return -1;
    }
    return 0;
}

static int
set_text(char *dst, size_t cap, const char *key, const char *v, char *msg, size_t msglen)
{
    if (strlen(v) >= cap) {
        snprintf(msg, msglen, "%s is at most %zu bytes", key, cap - 1);
        return -EINVAL;
    }
    snprintf(dst, cap, "%s", v);
    return 0;
}

/* A comma list into the flow log's match lists. */
static int
set_list(struct stor_flowlog *fl, const char *key, char *v, char *msg, size_t msglen)
{
    uint8_t n = 0;
    char *save = NULL;
    for (char *t = strtok_r(v, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
        bool plen;
        uint64_t u;
        if (n == STOR_MATCH_MAX) {
            snprintf(msg, msglen, "%s: at most %d entries", key, STOR_MATCH_MAX);
            return -EINVAL;
        }
        if (!strcmp(key, "exporters")) {
            if (flow_cidr_parse(t, strlen(t), &fl->exporters[n], &plen) != 0) {
                snprintf(msg, msglen, "exporters: '%.64s' is not an address or CIDR", t);
                return -EINVAL;
            }
        } else if (!strcmp(key, "domains")) {
            if (qry__parse_u64(t, strlen(t), false, &u) != 0 || u > UINT32_MAX) {
                snprintf(msg, msglen, "domains: '%.64s' is not a number", t);
                return -EINVAL;
            }
            fl->domains[n] = (uint32_t) u;
        } else if (set_text(fl->instances[n], FLOW_ID_MAX, key, t, msg, msglen) != 0) {
            return -EINVAL;
        }
        n++;
    }
    if (!strcmp(key, "exporters")) {
        fl->nexporters = n;
    } else if (!strcmp(key, "domains")) {
        fl->ndomains = n;
    } else {
        fl->ninstances = n;
    }
    return 0;
}

static int
apply(struct stor_flowlog *fl, char *kv, char *msg, size_t msglen)
{
    char *eq = strchr(kv, '=');
    if (eq == NULL) {
        snprintf(msg, msglen, "expected key=value, got '%.64s'", kv);
        return -EINVAL;
    }
    *eq = '\0';
    const char *k = kv;
    char *v = eq + 1;
    if (!strcasecmp(k, "window")) {
        fl->window_s = (uint32_t) strtoul(v, NULL, 10);
        if (fl->window_s != 60 && fl->window_s != 600) {
            snprintf(msg, msglen, "window is 60 or 600 (seconds)");
            return -EINVAL;
        }
    } else if (!strcasecmp(k, "traffic")) {
        if (!strcasecmp(v, "all")) {
            fl->traffic = STOR_TRAFFIC_ALL;
        } else if (!strcasecmp(v, "accept")) {
            fl->traffic = STOR_TRAFFIC_ACCEPT;
        } else if (!strcasecmp(v, "reject")) {
            fl->traffic = STOR_TRAFFIC_REJECT;
        } else {
            snprintf(msg, msglen, "traffic is all, accept or reject");
            return -EINVAL;
        }
    } else if (!strcasecmp(k, "aggregate") || !strcasecmp(k, "active")) {
        if (set_bool(v, !strcasecmp(k, "active") ? &fl->active : &fl->aggregate) != 0) {
            snprintf(msg, msglen, "%s is on or off", k);
            return -EINVAL;
        }
    } else if (!strcasecmp(k, "description")) {
        return set_text(fl->description, sizeof(fl->description), k, v, msg, msglen);
    } else if (!strcasecmp(k, "exporters") || !strcasecmp(k, "domains") ||
               !strcasecmp(k, "instances")) {
        char lk[16];
        snprintf(lk, sizeof(lk), "%s", k);
        for (char *c = lk; *c; c++) {
            *c = (char) (*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
        }
        return set_list(fl, lk, v, msg, msglen);
    } else if (!strcasecmp(k, "account-id") || !strcasecmp(k, "account_id")) {
        return set_text(fl->account_id, sizeof(fl->account_id), k, v, msg, msglen);
    } else if (!strcasecmp(k, "instance-id") || !strcasecmp(k, "instance_id")) {
        return set_text(fl->instance_id, sizeof(fl->instance_id), k, v, msg, msglen);
    } else if (!strcasecmp(k, "region")) {
        return set_text(fl->region, sizeof(fl->region), k, v, msg, msglen);
    } else if (!strcasecmp(k, "vpc-id") || !strcasecmp(k, "vpc_id")) {
        return set_text(fl->vpc_id, sizeof(fl->vpc_id), k, v, msg, msglen);
    } else if (!strcasecmp(k, "eni-id") || !strcasecmp(k, "eni_id")) {
        return set_text(fl->eni_id, sizeof(fl->eni_id), k, v, msg, msglen);
    } else {
        snprintf(msg, msglen,
                 "unknown key '%.32s'; keys: window traffic aggregate active description "
                 "exporters domains instances account-id instance-id region vpc-id eni-id",
                 k);
        return -EINVAL;
    }
    return 0;
}

struct describe {
    const char *name;
    qry_row_fn *row;
    void *row_arg;
    int found;
};

static void
list_text(char *out, size_t cap, const struct stor_flowlog *fl, int which)
{
    size_t n = which == 0 ? fl->nexporters : which == 1 ? fl->ndomains : fl->ninstances;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        char item[80];
        if (which == 0) {
            char a[64];
            qry__addr_text(fl->exporters[i].addr, a);
            unsigned plen = fl->exporters[i].plen;
            if (flow_addr_is_v4(fl->exporters[i].addr) && plen >= 96) {
                plen -= 96;
            }
            snprintf(item, sizeof(item), "%s/%u", a, plen);
        } else if (which == 1) {
            snprintf(item, sizeof(item), "%u", fl->domains[i]);
        } else {
            snprintf(item, sizeof(item), "%s", fl->instances[i]);
        }
        size_t l = strlen(out);
        snprintf(out + l, cap - l, "%s%s", i ? "," : "", item);
    }
}

static int
describe_one(void *arg, const struct stor_flowlog *fl)
{
    static const char *const names[] = {"name",      "id",         "window",      "traffic",
                                        "aggregate", "active",     "exporters",   "domains",
                                        "instances", "account-id", "instance-id", "region",
                                        "vpc-id",    "eni-id",     "description", "created"};
    static const char *const traffic[] = {"all", "accept", "reject"};
    struct describe *d = arg;
    char id[16], win[16], ex[1200], dom[200], inst[700], created[32];
    if (d->name != NULL && strcmp(d->name, fl->name) != 0) {
        return 0;
    }
    d->found++;
    snprintf(id, sizeof(id), "%u", fl->id);
    snprintf(win, sizeof(win), "%u", fl->window_s);
    list_text(ex, sizeof(ex), fl, 0);
    list_text(dom, sizeof(dom), fl, 1);
    list_text(inst, sizeof(inst), fl, 2);
    if (fl->created_ms == 0) {
        created[0] = '\0'; /* the built-in flow log was never created: no value */
    } else {
        qry__time_text(fl->created_ms, created);
    }
    const char *vals[] = {fl->name,
                          id,
                          win,
                          fl->traffic < 3 ? traffic[fl->traffic] : "?",
                          fl->aggregate ? "on" : "off",
                          fl->active ? "on" : "off",
                          ex,
                          dom,
                          inst,
                          fl->account_id,
                          fl->instance_id,
                          fl->region,
                          fl->vpc_id,
                          fl->eni_id,
                          fl->description,
                          created};
    return d->row(d->row_arg, sizeof(names) / sizeof(names[0]), names, vals);
}

static int
count_one(void *arg, const struct stor_flowlog *fl)
{
    (void) fl;
    (*(size_t *) arg)++;
    return 0;
}

/*
 * The built-in "default" flow log (id 0) comes first: it holds every record while no flow log
 * is defined (stor.h), so it is "active" exactly then. Its records stay queryable afterwards
 * (flowlog:default), so it is listed either way.
 */
static int
describe_builtin(struct stor_env *env, struct describe *d)
{
    struct stor_flowlog fl;
    size_t n = 0;
    int rc = stor_flowlog_each(env, count_one, &n);
    if (rc != 0) {
        return rc;
    }
    stor_flowlog_default(&fl, "default");
    fl.id = 0;
    fl.active = n == 0;
    snprintf(fl.description, sizeof(fl.description), "built-in");
    return describe_one(d, &fl);
}

int
qry__flowlog_cmd(struct qry_session *s, const char *arg, bool admin, qry_row_fn *row, void *row_arg,
                 char *msg, size_t msglen)
{
    struct stor_env *env = qry__session_stor(s);
    struct args *a = malloc(sizeof(*a));
    struct stor_flowlog fl;
    int rc;
    if (a == NULL) {
        return -ENOMEM;
    }
    if ((rc = split(arg, a, msg, msglen)) != 0) {
        goto out;
    }
    if (a->n == 0) {
        snprintf(msg, msglen, "FLOWLOG takes CREATE, DESCRIBE, MODIFY, START, STOP or DELETE");
        rc = -EINVAL;
        goto out;
    }
    const char *sub = a->v[0], *name = a->n > 1 ? a->v[1] : NULL;
    if (!strcasecmp(sub, "DESCRIBE")) {
        struct describe d = {.name = name, .row = row, .row_arg = row_arg};
        rc = describe_builtin(env, &d);
        rc = rc == 0 ? stor_flowlog_each(env, describe_one, &d) : rc;
        if (rc == 0 && name != NULL && d.found == 0) {
            snprintf(msg, msglen, "no flow log named '%.64s'", name);
            rc = STOR_E_NOTFOUND;
        }
        rc = rc == 0 ? 1 : rc;
        goto out;
    }
    bool known = !strcasecmp(sub, "CREATE") || !strcasecmp(sub, "MODIFY") ||
                 !strcasecmp(sub, "START") || !strcasecmp(sub, "STOP") ||
                 !strcasecmp(sub, "DELETE");
    if (!known) {
        snprintf(msg, msglen,
                 "unknown FLOWLOG request '%.32s'; use CREATE, DESCRIBE, MODIFY, START, STOP "
                 "or DELETE",
                 sub);
        rc = -EINVAL;
        goto out;
    }
    if (!admin) {
        snprintf(msg, msglen, "FLOWLOG %s needs the admin token (AUTH <admin token>)", sub);
        rc = -EPERM;
        goto out;
    }
    if (name == NULL) {
        snprintf(msg, msglen, "FLOWLOG %s needs a flow-log name", sub);
        rc = -EINVAL;
        goto out;
    }
    if (!strcasecmp(sub, "START") || !strcasecmp(sub, "STOP")) {
        rc = stor_flowlog_set_active(env, name, !strcasecmp(sub, "START"), msg, msglen);
        if (rc == 0) {
            snprintf(msg, msglen, "flow log %s %s", name,
                     !strcasecmp(sub, "START") ? "started" : "stopped");
        }
        goto out;
    }
    if (!strcasecmp(sub, "DELETE")) {
        bool purge = a->n > 2 && !strcasecmp(a->v[2], "purge");
        if (a->n > 3 || (a->n == 3 && !purge)) {
            snprintf(msg, msglen, "FLOWLOG DELETE <name> [purge]");
            rc = -EINVAL;
            goto out;
        }
        rc = stor_flowlog_delete(env, name, purge, msg, msglen);
        if (rc == 0) {
            snprintf(msg, msglen, "flow log %s deleted%s", name, purge ? " with its records" : "");
        }
        goto out;
    }
    bool create = !strcasecmp(sub, "CREATE");
    if (create) {
        if (strlen(name) >= STOR_NAME_MAX) {
            snprintf(msg, msglen, "a flow-log name is at most %d bytes", STOR_NAME_MAX - 1);
            rc = -EINVAL;
            goto out;
        }
        stor_flowlog_default(&fl, name);
    } else if ((rc = stor_flowlog_get(env, name, &fl)) != 0) {
        snprintf(msg, msglen, "no flow log named '%.64s'", name);
        goto out;
    }
    for (size_t i = 2; i < a->n; i++) {
        if ((rc = apply(&fl, a->v[i], msg, msglen)) != 0) {
            goto out;
        }
    }
    if (!create && a->n < 3) {
        snprintf(msg, msglen, "FLOWLOG MODIFY <name> key=value ...");
        rc = -EINVAL;
        goto out;
    }
    rc = create ? stor_flowlog_create(env, &fl, msg, msglen)
                : stor_flowlog_modify(env, &fl, msg, msglen);
    if (rc == 0) {
        snprintf(msg, msglen, "flow log %s %s (id %u)", name, create ? "created" : "modified",
                 fl.id);
    }
out:
    free(a);
    return rc;
}
