/*
 * resources: resource sets with exact arithmetic.
 *
 * A set holds one entry per identity (name, type, reservation stack,
 * allocation role, revocable, disk); adding merges values into the entry of
 * the same identity and subtracting removes entries whose value becomes
 * empty, so a set never holds empty values. Scalars are integers in
 * thousandths; ranges are kept sorted and coalesced; set items sorted and
 * unique. That canonical form makes contains/equal simple comparisons.
 */
#include "core/resources.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Largest scalar accepted, so that thousandths fit comfortably in int64. */
#define SCALAR_MAX 1e12

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static bool str_eq(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

static bool json_eq(const json_t *a, const json_t *b)
{
    if (!a || !b)
        return a == b;
    return json_equal((json_t *)a, (json_t *)b);
}

static char *dup_or_null(const char *s, bool *oom)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *oom = true;
    return d;
}

/* Whether s is valid UTF-8, as everything that goes out as JSON must be. */
static bool utf8_valid(const char *s)
{
    json_t *j = json_string(s);
    json_decref(j);
    return j != NULL;
}

/* ---- roles ---- */

int ag_role_validate(const char *role, char *err, size_t errlen)
{
    if (!role || role[0] == '\0') {
        set_err(err, errlen, "role must not be empty");
        return -EINVAL;
    }
    if (strcmp(role, "*") == 0)
        return 0;
    if (!utf8_valid(role)) {
        set_err(err, errlen, "role is not valid UTF-8");
        return -EINVAL;
    }
    size_t n = strlen(role);
    if (role[0] == '/' || role[n - 1] == '/') {
        set_err(err, errlen, "role '%s' must not start or end with '/'", role);
        return -EINVAL;
    }
    if (strstr(role, "//")) {
        set_err(err, errlen, "role '%s' must not contain '//'", role);
        return -EINVAL;
    }
    for (const char *p = role; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (isspace(c) || c == '\b' || c < 0x20 || c == 0x7f) {
            set_err(err, errlen, "role '%s' must not contain whitespace or control characters",
                    role);
            return -EINVAL;
        }
    }
    const char *comp = role;
    while (comp) {
        const char *slash = strchr(comp, '/');
        size_t len = slash ? (size_t)(slash - comp) : strlen(comp);
        if ((len == 1 && comp[0] == '.') || (len == 2 && comp[0] == '.' && comp[1] == '.') ||
            (len == 1 && comp[0] == '*')) {
            set_err(err, errlen, "role '%s' must not have a component '%.*s'", role, (int)len,
                    comp);
            return -EINVAL;
        }
        if (comp[0] == '-') {
            set_err(err, errlen, "role '%s' has a component starting with '-'", role);
            return -EINVAL;
        }
        comp = slash ? slash + 1 : NULL;
    }
    return 0;
}

/* Whether `role` is `ancestor` or below it ("eng/web" is below "eng"). */
static bool role_within(const char *role, const char *ancestor)
{
    size_t n = strlen(ancestor);
    return strncmp(role, ancestor, n) == 0 && (role[n] == '\0' || role[n] == '/');
}

/* ---- one resource ---- */

static void reservation_release(struct ag_reservation *r)
{
    free(r->role);
    free(r->principal);
    if (r->labels)
        json_decref(r->labels);
    memset(r, 0, sizeof(*r));
}

void ag_resource_release(struct ag_resource *res)
{
    if (!res)
        return;
    free(res->name);
    free(res->ranges);
    for (size_t i = 0; i < res->n_items; i++)
        free(res->items[i]);
    free(res->items);
    for (size_t i = 0; i < res->n_reservations; i++)
        reservation_release(&res->reservations[i]);
    free(res->reservations);
    free(res->allocation_role);
    if (res->disk)
        json_decref(res->disk);
    memset(res, 0, sizeof(*res));
}

/* Copies everything but the value. dst is overwritten. */
static int copy_identity(struct ag_resource *dst, const struct ag_resource *src)
{
    bool oom = false;
    memset(dst, 0, sizeof(*dst));
    dst->type = src->type;
    dst->revocable = src->revocable;
    dst->name = dup_or_null(src->name, &oom);
    dst->allocation_role = dup_or_null(src->allocation_role, &oom);
    if (src->disk) {
        dst->disk = json_deep_copy(src->disk);
        oom |= dst->disk == NULL;
    }
    if (src->n_reservations) {
        dst->reservations = calloc(src->n_reservations, sizeof(*dst->reservations));
        if (!dst->reservations) {
            oom = true;
        } else {
            dst->n_reservations = src->n_reservations;
            for (size_t i = 0; i < src->n_reservations; i++) {
                const struct ag_reservation *s = &src->reservations[i];
                struct ag_reservation *d = &dst->reservations[i];
                d->type = s->type;
                d->role = dup_or_null(s->role, &oom);
                d->principal = dup_or_null(s->principal, &oom);
                if (s->labels) {
                    d->labels = json_deep_copy(s->labels);
                    oom |= d->labels == NULL;
                }
            }
        }
    }
    if (oom) {
        ag_resource_release(dst);
        return -ENOMEM;
    }
    return 0;
}

static int copy_items(char ***ret, size_t *ret_n, char *const *items, size_t n)
{
    *ret = NULL;
    *ret_n = 0;
    if (n == 0)
        return 0;
    char **v = calloc(n, sizeof(*v));
    if (!v)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        v[i] = strdup(items[i]);
        if (!v[i]) {
            for (size_t j = 0; j < i; j++)
                free(v[j]);
            free(v);
            return -ENOMEM;
        }
    }
    *ret = v;
    *ret_n = n;
    return 0;
}

int ag_resource_copy(struct ag_resource *dst, const struct ag_resource *src)
{
    int r = copy_identity(dst, src);
    if (r < 0)
        return r;
    dst->scalar_milli = src->scalar_milli;
    if (src->n_ranges) {
        dst->ranges = malloc(src->n_ranges * sizeof(*dst->ranges));
        if (!dst->ranges)
            goto oom;
        memcpy(dst->ranges, src->ranges, src->n_ranges * sizeof(*dst->ranges));
        dst->n_ranges = src->n_ranges;
    }
    if (copy_items(&dst->items, &dst->n_items, src->items, src->n_items) < 0)
        goto oom;
    return 0;
oom:
    ag_resource_release(dst);
    return -ENOMEM;
}

static bool reservations_equal(const struct ag_resource *a, const struct ag_resource *b)
{
    if (a->n_reservations != b->n_reservations)
        return false;
    for (size_t i = 0; i < a->n_reservations; i++) {
        const struct ag_reservation *x = &a->reservations[i], *y = &b->reservations[i];
        if (x->type != y->type || !str_eq(x->role, y->role) ||
            !str_eq(x->principal, y->principal) || !json_eq(x->labels, y->labels))
            return false;
    }
    return true;
}

static bool same_identity(const struct ag_resource *a, const struct ag_resource *b)
{
    return a->type == b->type && a->revocable == b->revocable && str_eq(a->name, b->name) &&
           str_eq(a->allocation_role, b->allocation_role) && reservations_equal(a, b) &&
           json_eq(a->disk, b->disk);
}

static bool value_empty(const struct ag_resource *r)
{
    switch (r->type) {
    case AG_VALUE_SCALAR:
        return r->scalar_milli <= 0;
    case AG_VALUE_RANGES:
        return r->n_ranges == 0;
    case AG_VALUE_SET:
        return r->n_items == 0;
    }
    return true;
}

const char *ag_resource_reserved_role(const struct ag_resource *res)
{
    if (!res || res->n_reservations == 0)
        return "*";
    return res->reservations[res->n_reservations - 1].role;
}

bool ag_resource_is_reserved(const struct ag_resource *res)
{
    return res && res->n_reservations > 0;
}

bool ag_resource_allocatable_to(const struct ag_resource *res, const char *role)
{
    if (!ag_resource_is_reserved(res))
        return true;
    if (!role)
        return false;
    return role_within(role, ag_resource_reserved_role(res));
}

/* ---- ranges: sorted, disjoint, non-adjacent arrays ---- */

static int range_cmp(const void *a, const void *b)
{
    const struct ag_range *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

/* Sorts and coalesces r in place; returns the new count. */
static size_t ranges_normalize(struct ag_range *r, size_t n)
{
    if (n < 2)
        return n;
    qsort(r, n, sizeof(*r), range_cmp);
    size_t out = 0;
    for (size_t i = 1; i < n; i++) {
        struct ag_range *last = &r[out];
        /* Overlapping or adjacent; end + 1 cannot overflow when end < begin. */
        if (r[i].begin <= last->end || r[i].begin - 1 <= last->end) {
            if (r[i].end > last->end)
                last->end = r[i].end;
        } else {
            r[++out] = r[i];
        }
    }
    return out + 1;
}

static int ranges_union(const struct ag_range *a, size_t na, const struct ag_range *b, size_t nb,
                        struct ag_range **ret, size_t *ret_n)
{
    struct ag_range *v = malloc((na + nb ? na + nb : 1) * sizeof(*v));
    if (!v)
        return -ENOMEM;
    if (na)
        memcpy(v, a, na * sizeof(*v));
    if (nb)
        memcpy(v + na, b, nb * sizeof(*v));
    *ret_n = ranges_normalize(v, na + nb);
    *ret = v;
    return 0;
}

/* a - b, both normalized. */
static int ranges_difference(const struct ag_range *a, size_t na, const struct ag_range *b,
                             size_t nb, struct ag_range **ret, size_t *ret_n)
{
    /* Each range of b splits at most one range of a in two. */
    struct ag_range *v = malloc((na + nb + 1) * sizeof(*v));
    if (!v)
        return -ENOMEM;
    size_t out = 0, j = 0;
    for (size_t i = 0; i < na; i++) {
        uint64_t begin = a[i].begin, end = a[i].end;
        bool alive = true;
        while (j < nb && b[j].end < begin)
            j++;
        for (size_t k = j; k < nb && b[k].begin <= end && alive; k++) {
            if (b[k].begin > begin)
                v[out++] = (struct ag_range){begin, b[k].begin - 1};
            if (b[k].end >= end)
                alive = false;
            else
                begin = b[k].end + 1;
        }
        if (alive)
            v[out++] = (struct ag_range){begin, end};
    }
    *ret = v;
    *ret_n = out;
    return 0;
}

/* Whether every range of b lies inside a range of a (both normalized). */
static bool ranges_contains(const struct ag_range *a, size_t na, const struct ag_range *b,
                            size_t nb)
{
    size_t i = 0;
    for (size_t k = 0; k < nb; k++) {
        while (i < na && a[i].end < b[k].begin)
            i++;
        if (i == na || a[i].begin > b[k].begin || a[i].end < b[k].end)
            return false;
    }
    return true;
}

static void ranges_format(const struct ag_range *r, size_t n, const char *sep, char *out,
                          size_t outlen, size_t *pos);

/* ---- sets: sorted unique string arrays ---- */

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorts and removes duplicates in place (freeing them); returns the count. */
static size_t items_normalize(char **v, size_t n)
{
    if (n < 2)
        return n;
    qsort(v, n, sizeof(*v), str_cmp);
    size_t out = 0;
    for (size_t i = 1; i < n; i++) {
        if (strcmp(v[i], v[out]) == 0)
            free(v[i]);
        else
            v[++out] = v[i];
    }
    return out + 1;
}

static int items_union(char *const *a, size_t na, char *const *b, size_t nb, char ***ret,
                       size_t *ret_n)
{
    char **v;
    size_t n;
    char **all = malloc((na + nb + 1) * sizeof(*all));
    if (!all)
        return -ENOMEM;
    if (na)
        memcpy(all, a, na * sizeof(*all));
    if (nb)
        memcpy(all + na, b, nb * sizeof(*all));
    int r = copy_items(&v, &n, all, na + nb);
    free(all);
    if (r < 0)
        return r;
    *ret_n = items_normalize(v, n);
    *ret = v;
    return 0;
}

static bool items_has(char *const *v, size_t n, const char *s)
{
    return n && bsearch(&s, v, n, sizeof(*v), str_cmp) != NULL;
}

static bool items_contains(char *const *a, size_t na, char *const *b, size_t nb)
{
    for (size_t i = 0; i < nb; i++) {
        if (!items_has(a, na, b[i]))
            return false;
    }
    return true;
}

/* ---- sets of resources ---- */

void ag_resources_init(struct ag_resources *r)
{
    memset(r, 0, sizeof(*r));
}

void ag_resources_clear(struct ag_resources *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        ag_resource_release(&r->items[i]);
    r->n = 0;
}

void ag_resources_release(struct ag_resources *r)
{
    if (!r)
        return;
    ag_resources_clear(r);
    free(r->items);
    ag_resources_init(r);
}

static int grow(struct ag_resources *r)
{
    if (r->n < r->cap)
        return 0;
    size_t cap = r->cap ? r->cap * 2 : 8;
    struct ag_resource *p = realloc(r->items, cap * sizeof(*p));
    if (!p)
        return -ENOMEM;
    r->items = p;
    r->cap = cap;
    return 0;
}

static struct ag_resource *find_identity(const struct ag_resources *r,
                                         const struct ag_resource *res)
{
    for (size_t i = 0; i < r->n; i++) {
        if (same_identity(&r->items[i], res))
            return &r->items[i];
    }
    return NULL;
}

static void remove_at(struct ag_resources *r, size_t i)
{
    ag_resource_release(&r->items[i]);
    memmove(&r->items[i], &r->items[i + 1], (r->n - i - 1) * sizeof(r->items[0]));
    r->n--;
}

/* Appends src, taking ownership of its contents (src is zeroed). */
static int append_take(struct ag_resources *r, struct ag_resource *src)
{
    if (grow(r) < 0)
        return -ENOMEM;
    r->items[r->n++] = *src;
    memset(src, 0, sizeof(*src));
    return 0;
}

int ag_resources_copy(struct ag_resources *dst, const struct ag_resources *src)
{
    struct ag_resources tmp;
    ag_resources_init(&tmp);
    if (dst == src)
        return 0;
    for (size_t i = 0; i < src->n; i++) {
        struct ag_resource c;
        if (ag_resource_copy(&c, &src->items[i]) < 0 || append_take(&tmp, &c) < 0) {
            ag_resource_release(&c);
            ag_resources_release(&tmp);
            return -ENOMEM;
        }
    }
    ag_resources_release(dst);
    *dst = tmp;
    return 0;
}

int ag_resources_push_quantity(struct ag_resources *r, const char *name, int64_t milli)
{
    if (!name || !*name || milli < 0)
        return -EINVAL;
    struct ag_resource c = {.type = AG_VALUE_SCALAR, .scalar_milli = milli};
    c.name = strdup(name);
    if (!c.name)
        return -ENOMEM;
    if (append_take(r, &c) < 0) {
        ag_resource_release(&c);
        return -ENOMEM;
    }
    return 0;
}

int ag_resources_add_one(struct ag_resources *dst, const struct ag_resource *src)
{
    if (value_empty(src))
        return 0;
    struct ag_resource *e = find_identity(dst, src);
    if (!e) {
        struct ag_resource c;
        int r = ag_resource_copy(&c, src);
        if (r < 0)
            return r;
        /* Keep the canonical form even if the caller built src by hand. */
        c.n_ranges = ranges_normalize(c.ranges, c.n_ranges);
        c.n_items = items_normalize(c.items, c.n_items);
        if (append_take(dst, &c) < 0) {
            ag_resource_release(&c);
            return -ENOMEM;
        }
        return 0;
    }
    switch (e->type) {
    case AG_VALUE_SCALAR:
        if (__builtin_add_overflow(e->scalar_milli, src->scalar_milli, &e->scalar_milli))
            e->scalar_milli = INT64_MAX;
        break;
    case AG_VALUE_RANGES: {
        struct ag_range *v;
        size_t n;
        if (ranges_union(e->ranges, e->n_ranges, src->ranges, src->n_ranges, &v, &n) < 0)
            return -ENOMEM;
        free(e->ranges);
        e->ranges = v;
        e->n_ranges = n;
        break;
    }
    case AG_VALUE_SET: {
        char **v;
        size_t n;
        if (items_union(e->items, e->n_items, src->items, src->n_items, &v, &n) < 0)
            return -ENOMEM;
        for (size_t i = 0; i < e->n_items; i++)
            free(e->items[i]);
        free(e->items);
        e->items = v;
        e->n_items = n;
        break;
    }
    }
    return 0;
}

int ag_resources_add(struct ag_resources *dst, const struct ag_resources *src)
{
    if (dst == src) {
        struct ag_resources tmp;
        ag_resources_init(&tmp);
        int r = ag_resources_copy(&tmp, src);
        if (r == 0)
            r = ag_resources_add(dst, &tmp);
        ag_resources_release(&tmp);
        return r;
    }
    for (size_t i = 0; i < src->n; i++) {
        int r = ag_resources_add_one(dst, &src->items[i]);
        if (r < 0)
            return r;
    }
    return 0;
}

static bool contains_one(const struct ag_resources *a, const struct ag_resource *b)
{
    if (value_empty(b))
        return true;
    const struct ag_resource *e = find_identity(a, b);
    if (!e)
        return false;
    switch (b->type) {
    case AG_VALUE_SCALAR:
        return e->scalar_milli >= b->scalar_milli;
    case AG_VALUE_RANGES:
        return ranges_contains(e->ranges, e->n_ranges, b->ranges, b->n_ranges);
    case AG_VALUE_SET:
        return items_contains(e->items, e->n_items, b->items, b->n_items);
    }
    return false;
}

/* r -= b where contains_one(r, b) holds. 0 or -ENOMEM (r unchanged). */
static int subtract_one(struct ag_resources *r, const struct ag_resource *b)
{
    if (value_empty(b))
        return 0;
    struct ag_resource *e = find_identity(r, b);
    switch (b->type) {
    case AG_VALUE_SCALAR:
        e->scalar_milli -= b->scalar_milli;
        break;
    case AG_VALUE_RANGES: {
        struct ag_range *v;
        size_t n;
        if (ranges_difference(e->ranges, e->n_ranges, b->ranges, b->n_ranges, &v, &n) < 0)
            return -ENOMEM;
        free(e->ranges);
        e->ranges = v;
        e->n_ranges = n;
        break;
    }
    case AG_VALUE_SET: {
        size_t out = 0;
        for (size_t i = 0; i < e->n_items; i++) {
            if (items_has(b->items, b->n_items, e->items[i]))
                free(e->items[i]);
            else
                e->items[out++] = e->items[i];
        }
        e->n_items = out;
        break;
    }
    }
    if (value_empty(e))
        remove_at(r, (size_t)(e - r->items));
    return 0;
}

static bool has_duplicate_identities(const struct ag_resources *r)
{
    for (size_t i = 0; i < r->n; i++) {
        for (size_t j = i + 1; j < r->n; j++) {
            if (same_identity(&r->items[i], &r->items[j]))
                return true;
        }
    }
    return false;
}

/* b's entries may share an identity only if b was built by hand; then its
 * values must be summed before comparing. */
static int normalized_view(const struct ag_resources *b, struct ag_resources *tmp,
                           const struct ag_resources **ret)
{
    ag_resources_init(tmp);
    *ret = b;
    if (!has_duplicate_identities(b))
        return 0;
    int r = ag_resources_add(tmp, b);
    if (r < 0) {
        ag_resources_release(tmp);
        return r;
    }
    *ret = tmp;
    return 0;
}

bool ag_resources_contains(const struct ag_resources *a, const struct ag_resources *b)
{
    struct ag_resources tmp;
    const struct ag_resources *nb;
    if (normalized_view(b, &tmp, &nb) < 0)
        return false;
    bool ok = true;
    for (size_t i = 0; i < nb->n && ok; i++)
        ok = contains_one(a, &nb->items[i]);
    ag_resources_release(&tmp);
    return ok;
}

int ag_resources_subtract(struct ag_resources *dst, const struct ag_resources *src)
{
    struct ag_resources tmp, work;
    const struct ag_resources *nb;
    int r;
    if (dst == src) {
        ag_resources_clear(dst);
        return 0;
    }
    if ((r = normalized_view(src, &tmp, &nb)) < 0)
        return r;
    for (size_t i = 0; i < nb->n; i++) {
        if (!contains_one(dst, &nb->items[i])) {
            ag_resources_release(&tmp);
            return -ERANGE;
        }
    }
    /* Work on a copy so an allocation failure half way leaves dst intact. */
    ag_resources_init(&work);
    if ((r = ag_resources_copy(&work, dst)) < 0)
        goto out;
    for (size_t i = 0; i < nb->n; i++) {
        if ((r = subtract_one(&work, &nb->items[i])) < 0)
            goto out;
    }
    ag_resources_release(dst);
    *dst = work;
    ag_resources_init(&work);
out:
    ag_resources_release(&work);
    ag_resources_release(&tmp);
    return r;
}

bool ag_resources_equal(const struct ag_resources *a, const struct ag_resources *b)
{
    return ag_resources_contains(a, b) && ag_resources_contains(b, a);
}

bool ag_resources_empty(const struct ag_resources *r)
{
    for (size_t i = 0; r && i < r->n; i++) {
        if (!value_empty(&r->items[i]))
            return false;
    }
    return true;
}

int64_t ag_resources_scalar_milli(const struct ag_resources *r, const char *name)
{
    int64_t sum = 0;
    for (size_t i = 0; r && i < r->n; i++) {
        const struct ag_resource *e = &r->items[i];
        if (e->type == AG_VALUE_SCALAR && strcmp(e->name, name) == 0 &&
            __builtin_add_overflow(sum, e->scalar_milli, &sum))
            sum = INT64_MAX;
    }
    return sum;
}

double ag_resources_scalar(const struct ag_resources *r, const char *name)
{
    return (double)ag_resources_scalar_milli(r, name) / 1000.0;
}

int ag_resources_set_allocation_role(struct ag_resources *r, const char *role)
{
    /* Rebuilt through add: entries differing only in allocation role merge. */
    struct ag_resources out;
    ag_resources_init(&out);
    for (size_t i = 0; i < r->n; i++) {
        struct ag_resource c;
        char *dup = NULL;
        if (role && !(dup = strdup(role)))
            goto oom;
        if (ag_resource_copy(&c, &r->items[i]) < 0) {
            free(dup);
            goto oom;
        }
        free(c.allocation_role);
        c.allocation_role = dup;
        int rc = ag_resources_add_one(&out, &c);
        ag_resource_release(&c);
        if (rc < 0)
            goto oom;
    }
    ag_resources_release(r);
    *r = out;
    return 0;
oom:
    ag_resources_release(&out);
    return -ENOMEM;
}

int ag_resources_filter(const struct ag_resources *src,
                        bool (*keep)(const struct ag_resource *res, void *arg), void *arg,
                        struct ag_resources *ret)
{
    struct ag_resources out;
    ag_resources_init(&out);
    for (size_t i = 0; i < src->n; i++) {
        if (!keep(&src->items[i], arg))
            continue;
        struct ag_resource c;
        if (ag_resource_copy(&c, &src->items[i]) < 0)
            goto oom;
        if (append_take(&out, &c) < 0) {
            ag_resource_release(&c);
            goto oom;
        }
    }
    *ret = out;
    return 0;
oom:
    ag_resources_release(&out);
    ag_resources_init(ret);
    return -ENOMEM;
}

/* ---- text form ---- */

/* Known names must have their usual type: the flattened object and the
 * allocator depend on it. */
static int check_known_type(const char *name, enum ag_value_type type, char *err, size_t errlen,
                            const char *ctx)
{
    static const char *const scalars[] = {"cpus", "mem", "disk", "gpus"};
    for (size_t i = 0; i < sizeof(scalars) / sizeof(scalars[0]); i++) {
        if (strcmp(name, scalars[i]) == 0 && type != AG_VALUE_SCALAR) {
            set_err(err, errlen, "%s: '%s' must be a scalar", ctx, name);
            return -EINVAL;
        }
    }
    if (strcmp(name, "ports") == 0 && type != AG_VALUE_RANGES) {
        set_err(err, errlen, "%s: 'ports' must be ranges", ctx);
        return -EINVAL;
    }
    return 0;
}

static int check_name(const char *name, char *err, size_t errlen, const char *ctx)
{
    if (!name[0]) {
        set_err(err, errlen, "%s: empty resource name", ctx);
        return -EINVAL;
    }
    for (const char *p = name; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c <= 0x20 || c == 0x7f || strchr(";:()[]{},", c)) {
            set_err(err, errlen, "%s: invalid character in resource name '%s'", ctx, name);
            return -EINVAL;
        }
    }
    if (!utf8_valid(name)) {
        set_err(err, errlen, "%s: resource name is not valid UTF-8", ctx);
        return -EINVAL;
    }
    return 0;
}

/* A plain decimal number ("2", "0.5", "1e3"); strtod alone would also take
 * hex, "inf", "nan", signs and leading spaces. */
static int parse_decimal(const char *s, double *ret)
{
    if (!isdigit((unsigned char)s[0]) && !(s[0] == '.' && isdigit((unsigned char)s[1])))
        return -EINVAL;
    if (strpbrk(s, "xXpP"))
        return -EINVAL;
    char *end;
    double d = strtod(s, &end);
    if (*end != '\0')
        return -EINVAL;
    *ret = d;
    return 0;
}

static int scalar_to_milli(double v, int64_t *ret)
{
    if (!isfinite(v) || v < 0 || v > SCALAR_MAX)
        return -EINVAL;
    *ret = llround(v * 1000.0);
    return 0;
}

/* Trims spaces from both ends of [*b, *e). */
static void trim(const char **b, const char **e)
{
    while (*b < *e && isspace((unsigned char)**b))
        (*b)++;
    while (*e > *b && isspace((unsigned char)(*e)[-1]))
        (*e)--;
}

static char *strndup_trim(const char *b, const char *e)
{
    trim(&b, &e);
    return strndup(b, (size_t)(e - b));
}

static int parse_u64(const char *b, const char *e, uint64_t *ret)
{
    trim(&b, &e);
    if (b == e || e - b > 20)
        return -EINVAL;
    uint64_t v = 0;
    for (const char *p = b; p < e; p++) {
        if (*p < '0' || *p > '9')
            return -EINVAL;
        if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
            return -EINVAL;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    *ret = v;
    return 0;
}

static int parse_ranges_text(const char *b, const char *e, struct ag_resource *res, char *err,
                             size_t errlen, const char *tok)
{
    /* b points at '[' and e[-1] is ']'. */
    b++;
    e--;
    trim(&b, &e);
    res->type = AG_VALUE_RANGES;
    while (b < e) {
        const char *comma = memchr(b, ',', (size_t)(e - b));
        const char *end = comma ? comma : e;
        const char *dash = memchr(b, '-', (size_t)(end - b));
        struct ag_range rg;
        int bad = dash ? (parse_u64(b, dash, &rg.begin) || parse_u64(dash + 1, end, &rg.end))
                       : parse_u64(b, end, &rg.begin);
        if (!dash)
            rg.end = rg.begin;
        if (bad || rg.begin > rg.end) {
            const char *tb = b, *te = end;
            trim(&tb, &te);
            set_err(err, errlen, "invalid resource '%s': bad range '%.*s'", tok, (int)(te - tb),
                    tb);
            return -EINVAL;
        }
        struct ag_range *p = realloc(res->ranges, (res->n_ranges + 1) * sizeof(*p));
        if (!p)
            return -ENOMEM;
        res->ranges = p;
        res->ranges[res->n_ranges++] = rg;
        b = comma ? comma + 1 : e;
        if (comma && b >= e) {
            set_err(err, errlen, "invalid resource '%s': empty range after ','", tok);
            return -EINVAL;
        }
    }
    res->n_ranges = ranges_normalize(res->ranges, res->n_ranges);
    return 0;
}

static int parse_set_text(const char *b, const char *e, struct ag_resource *res, char *err,
                          size_t errlen, const char *tok)
{
    b++;
    e--;
    trim(&b, &e);
    res->type = AG_VALUE_SET;
    while (b < e) {
        const char *comma = memchr(b, ',', (size_t)(e - b));
        const char *end = comma ? comma : e;
        char *item = strndup_trim(b, end);
        if (!item)
            return -ENOMEM;
        if (!item[0] || !utf8_valid(item)) {
            set_err(err, errlen, "invalid resource '%s': %s set item", tok,
                    item[0] ? "non-UTF-8" : "empty");
            free(item);
            return -EINVAL;
        }
        char **p = realloc(res->items, (res->n_items + 1) * sizeof(*p));
        if (!p) {
            free(item);
            return -ENOMEM;
        }
        res->items = p;
        res->items[res->n_items++] = item;
        b = comma ? comma + 1 : e;
        if (comma && b >= e) {
            set_err(err, errlen, "invalid resource '%s': empty set item", tok);
            return -EINVAL;
        }
    }
    res->n_items = items_normalize(res->items, res->n_items);
    return 0;
}

static int set_static_role(struct ag_resource *res, const char *role)
{
    if (!role || strcmp(role, "*") == 0)
        return 0;
    res->reservations = calloc(1, sizeof(*res->reservations));
    if (!res->reservations)
        return -ENOMEM;
    res->n_reservations = 1;
    res->reservations[0].type = AG_RESERVATION_STATIC;
    res->reservations[0].role = strdup(role);
    return res->reservations[0].role ? 0 : -ENOMEM;
}

/* Parses one "name(role):value" token (already trimmed, non-empty). */
static int parse_token(const char *tok, const char *default_role, struct ag_resource *res,
                       char *err, size_t errlen)
{
    char ctx[300];
    char *role = NULL;
    int r = -EINVAL;
    memset(res, 0, sizeof(*res));
    snprintf(ctx, sizeof(ctx), "invalid resource '%s'", tok);

    const char *colon = strchr(tok, ':');
    if (!colon) {
        set_err(err, errlen, "%s: expected 'name:value'", ctx);
        return -EINVAL;
    }
    const char *paren = memchr(tok, '(', (size_t)(colon - tok));
    const char *name_end = paren ? paren : colon;
    if (!(res->name = strndup_trim(tok, name_end)))
        return -ENOMEM;
    if (check_name(res->name, err, errlen, ctx) < 0)
        goto out;
    if (paren) {
        const char *close = memchr(paren, ')', (size_t)(colon - paren));
        const char *after = close ? close + 1 : NULL;
        if (after)
            while (after < colon && isspace((unsigned char)*after))
                after++;
        if (!close || after != colon) {
            set_err(err, errlen, "%s: expected 'name(role):value'", ctx);
            goto out;
        }
        if (!(role = strndup_trim(paren + 1, close))) {
            r = -ENOMEM;
            goto out;
        }
        char rerr[200];
        if (ag_role_validate(role, rerr, sizeof(rerr)) < 0) {
            set_err(err, errlen, "%s: %s", ctx, rerr);
            goto out;
        }
    }

    const char *vb = colon + 1, *ve = colon + strlen(colon);
    trim(&vb, &ve);
    if (vb == ve) {
        set_err(err, errlen, "%s: missing value", ctx);
        goto out;
    }
    if (*vb == '[') {
        if (ve[-1] != ']') {
            set_err(err, errlen, "%s: ranges must end with ']'", ctx);
            goto out;
        }
        if ((r = parse_ranges_text(vb, ve, res, err, errlen, tok)) < 0)
            goto out;
        r = -EINVAL;
    } else if (*vb == '{') {
        if (ve[-1] != '}') {
            set_err(err, errlen, "%s: set must end with '}'", ctx);
            goto out;
        }
        if ((r = parse_set_text(vb, ve, res, err, errlen, tok)) < 0)
            goto out;
        r = -EINVAL;
    } else {
        char num[64];
        size_t n = (size_t)(ve - vb);
        bool ok = n < sizeof(num);
        double d = 0;
        if (ok) {
            memcpy(num, vb, n);
            num[n] = '\0';
            ok = parse_decimal(num, &d) == 0 && scalar_to_milli(d, &res->scalar_milli) == 0;
        }
        if (!ok) {
            set_err(err, errlen, "%s: '%.*s' is not a non-negative number", ctx, (int)n, vb);
            goto out;
        }
        res->type = AG_VALUE_SCALAR;
    }
    if (check_known_type(res->name, res->type, err, errlen, ctx) < 0)
        goto out;
    r = set_static_role(res, role ? role : default_role);
out:
    free(role);
    if (r < 0)
        ag_resource_release(res);
    return r;
}

static int from_json_impl(const json_t *array, const char *default_role, struct ag_resources *ret,
                          char *err, size_t errlen);

int ag_resources_parse(const char *text, const char *default_role, struct ag_resources *ret,
                       char *err, size_t errlen)
{
    struct ag_resources out;
    ag_resources_init(&out);
    ag_resources_init(ret);
    if (!text) {
        set_err(err, errlen, "no resources given");
        return -EINVAL;
    }
    if (default_role && strcmp(default_role, "*") != 0) {
        char rerr[200];
        if (ag_role_validate(default_role, rerr, sizeof(rerr)) < 0) {
            set_err(err, errlen, "invalid default role: %s", rerr);
            return -EINVAL;
        }
    }
    const char *p = text;
    while (isspace((unsigned char)*p))
        p++;
    if (*p == '[') {
        json_error_t jerr;
        json_t *a = json_loads(p, 0, &jerr);
        if (!a) {
            set_err(err, errlen, "invalid resources JSON at line %d column %d: %s", jerr.line,
                    jerr.column, jerr.text);
            return -EINVAL;
        }
        int r = from_json_impl(a, default_role, ret, err, errlen);
        json_decref(a);
        return r;
    }

    while (*p) {
        const char *semi = strchr(p, ';');
        const char *e = semi ? semi : p + strlen(p);
        const char *b = p;
        p = semi ? semi + 1 : e;
        trim(&b, &e);
        if (b == e)
            continue;
        char *tok = strndup(b, (size_t)(e - b));
        if (!tok)
            goto oom;
        struct ag_resource res;
        int r = parse_token(tok, default_role, &res, err, errlen);
        free(tok);
        if (r == -ENOMEM)
            goto oom;
        if (r < 0) {
            ag_resources_release(&out);
            return r;
        }
        r = ag_resources_add_one(&out, &res);
        ag_resource_release(&res);
        if (r < 0)
            goto oom;
    }
    *ret = out;
    return 0;
oom:
    set_err(err, errlen, "out of memory parsing resources");
    ag_resources_release(&out);
    return -ENOMEM;
}

/* ---- JSON form ---- */

/* A non-negative integer from a JSON number or numeric string. */
static int json_u64(const json_t *v, uint64_t *ret)
{
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i < 0)
            return -EINVAL;
        *ret = (uint64_t)i;
        return 0;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!(d >= 0 && d < 18446744073709551616.0) || d != floor(d))
            return -EINVAL;
        *ret = (uint64_t)d;
        return 0;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        return parse_u64(s, s + strlen(s), ret);
    }
    return -EINVAL;
}

static int json_scalar(const json_t *v, double *ret)
{
    if (json_is_number(v)) {
        *ret = json_number_value(v);
        return 0;
    }
    if (json_is_string(v))
        return parse_decimal(json_string_value(v), ret);
    return -EINVAL;
}

static json_t *member(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_null(v) ? NULL : v;
}

static int parse_reservation_json(const json_t *o, const char *ctx, bool pre_refinement,
                                  struct ag_reservation *out, char *err, size_t errlen)
{
    char rerr[200];
    if (!json_is_object(o)) {
        set_err(err, errlen, "%s must be an object", ctx);
        return -EINVAL;
    }
    json_t *type = member(o, "type"), *role = member(o, "role");
    json_t *principal = member(o, "principal"), *labels = member(o, "labels");
    if (type) {
        const char *t = json_is_string(type) ? json_string_value(type) : "";
        if (strcmp(t, "STATIC") == 0) {
            out->type = AG_RESERVATION_STATIC;
        } else if (strcmp(t, "DYNAMIC") == 0) {
            out->type = AG_RESERVATION_DYNAMIC;
        } else {
            set_err(err, errlen, "%s.type must be \"STATIC\" or \"DYNAMIC\"", ctx);
            return -EINVAL;
        }
    } else {
        /* Pre-refinement "reservation" only exists for dynamic ones; in the
         * refined stack an untyped entry with a principal is dynamic too. */
        out->type = (pre_refinement || principal || labels) ? AG_RESERVATION_DYNAMIC
                                                            : AG_RESERVATION_STATIC;
    }
    if (!pre_refinement) {
        if (!role || !json_is_string(role)) {
            set_err(err, errlen, "%s.role must be a string", ctx);
            return -EINVAL;
        }
        const char *r = json_string_value(role);
        if (strcmp(r, "*") == 0) {
            set_err(err, errlen, "%s.role: nothing can be reserved for '*'", ctx);
            return -EINVAL;
        }
        if (ag_role_validate(r, rerr, sizeof(rerr)) < 0) {
            set_err(err, errlen, "%s.role: %s", ctx, rerr);
            return -EINVAL;
        }
        if (!(out->role = strdup(r)))
            return -ENOMEM;
    }
    if (principal) {
        if (!json_is_string(principal)) {
            set_err(err, errlen, "%s.principal must be a string", ctx);
            return -EINVAL;
        }
        if (!(out->principal = strdup(json_string_value(principal))))
            return -ENOMEM;
    }
    if (labels) {
        if (!json_is_object(labels)) {
            set_err(err, errlen, "%s.labels must be an object", ctx);
            return -EINVAL;
        }
        if (!(out->labels = json_deep_copy(labels)))
            return -ENOMEM;
    }
    return 0;
}

static int alloc_reservations(struct ag_resource *res, size_t n)
{
    res->reservations = calloc(n, sizeof(*res->reservations));
    if (!res->reservations)
        return -ENOMEM;
    res->n_reservations = n;
    return 0;
}

static int parse_reservations_json(const json_t *o, const char *default_role,
                                   struct ag_resource *res, const char *ctx, char *err,
                                   size_t errlen)
{
    char sub[200], rerr[200];
    int r;
    json_t *stack = member(o, "reservations");
    json_t *role = member(o, "role"), *resv = member(o, "reservation");
    const char *role_s = NULL;

    if (role) {
        if (!json_is_string(role)) {
            set_err(err, errlen, "%s.role must be a string", ctx);
            return -EINVAL;
        }
        role_s = json_string_value(role);
        if (ag_role_validate(role_s, rerr, sizeof(rerr)) < 0) {
            set_err(err, errlen, "%s.role: %s", ctx, rerr);
            return -EINVAL;
        }
    }
    if (stack && !json_is_array(stack)) {
        set_err(err, errlen, "%s.reservations must be an array", ctx);
        return -EINVAL;
    }
    if (stack && json_array_size(stack) > 0) {
        size_t n = json_array_size(stack);
        if ((r = alloc_reservations(res, n)) < 0)
            return r;
        for (size_t i = 0; i < n; i++) {
            snprintf(sub, sizeof(sub), "%s.reservations[%zu]", ctx, i);
            r = parse_reservation_json(json_array_get(stack, i), sub, false, &res->reservations[i],
                                       err, errlen);
            if (r < 0)
                return r;
            if (i > 0 && res->reservations[i].type == AG_RESERVATION_STATIC) {
                set_err(err, errlen, "%s: a static reservation cannot refine another", sub);
                return -EINVAL;
            }
            if (i > 0 && (strcmp(res->reservations[i].role, res->reservations[i - 1].role) == 0 ||
                          !role_within(res->reservations[i].role, res->reservations[i - 1].role))) {
                set_err(err, errlen, "%s.role '%s' must be a child of '%s'", sub,
                        res->reservations[i].role, res->reservations[i - 1].role);
                return -EINVAL;
            }
        }
        if (role_s && strcmp(role_s, ag_resource_reserved_role(res)) != 0) {
            set_err(err, errlen, "%s.role '%s' does not match reservations", ctx, role_s);
            return -EINVAL;
        }
        return 0;
    }
    if (!role && !stack && !resv)
        role_s = default_role; /* nothing said: the default role applies */
    if (!role_s || strcmp(role_s, "*") == 0) {
        if (resv) {
            set_err(err, errlen, "%s.reservation needs a 'role' other than '*'", ctx);
            return -EINVAL;
        }
        return 0;
    }
    if ((r = alloc_reservations(res, 1)) < 0)
        return r;
    if (resv) {
        snprintf(sub, sizeof(sub), "%s.reservation", ctx);
        if ((r = parse_reservation_json(resv, sub, true, &res->reservations[0], err, errlen)) < 0)
            return r;
    } else {
        res->reservations[0].type = AG_RESERVATION_STATIC;
    }
    return (res->reservations[0].role = strdup(role_s)) ? 0 : -ENOMEM;
}

static int parse_value_json(const json_t *o, struct ag_resource *res, const char *ctx, char *err,
                            size_t errlen)
{
    char sub[200];
    switch (res->type) {
    case AG_VALUE_SCALAR: {
        json_t *s = member(o, "scalar");
        json_t *v = json_is_object(s) ? member(s, "value") : NULL;
        double d;
        if (!v || json_scalar(v, &d) < 0 || scalar_to_milli(d, &res->scalar_milli) < 0) {
            set_err(err, errlen, "%s.scalar.value must be a non-negative number", ctx);
            return -EINVAL;
        }
        return 0;
    }
    case AG_VALUE_RANGES: {
        json_t *rs = member(o, "ranges");
        if (!json_is_object(rs)) {
            set_err(err, errlen, "%s.ranges must be an object", ctx);
            return -EINVAL;
        }
        json_t *arr = member(rs, "range");
        if (arr && !json_is_array(arr)) {
            set_err(err, errlen, "%s.ranges.range must be an array", ctx);
            return -EINVAL;
        }
        size_t n = arr ? json_array_size(arr) : 0;
        if (n) {
            if (!(res->ranges = calloc(n, sizeof(*res->ranges))))
                return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
            json_t *rg = json_array_get(arr, i);
            json_t *b = json_is_object(rg) ? member(rg, "begin") : NULL;
            json_t *e = json_is_object(rg) ? member(rg, "end") : NULL;
            struct ag_range x;
            snprintf(sub, sizeof(sub), "%s.ranges.range[%zu]", ctx, i);
            if (!b || !e || json_u64(b, &x.begin) < 0 || json_u64(e, &x.end) < 0) {
                set_err(err, errlen, "%s needs non-negative integers 'begin' and 'end'", sub);
                return -EINVAL;
            }
            if (x.begin > x.end) {
                set_err(err, errlen, "%s: begin %llu is after end %llu", sub,
                        (unsigned long long)x.begin, (unsigned long long)x.end);
                return -EINVAL;
            }
            res->ranges[res->n_ranges++] = x;
        }
        res->n_ranges = ranges_normalize(res->ranges, res->n_ranges);
        return 0;
    }
    case AG_VALUE_SET: {
        json_t *st = member(o, "set");
        if (!json_is_object(st)) {
            set_err(err, errlen, "%s.set must be an object", ctx);
            return -EINVAL;
        }
        json_t *arr = member(st, "item");
        if (arr && !json_is_array(arr)) {
            set_err(err, errlen, "%s.set.item must be an array", ctx);
            return -EINVAL;
        }
        size_t n = arr ? json_array_size(arr) : 0;
        if (n) {
            if (!(res->items = calloc(n, sizeof(*res->items))))
                return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
            json_t *it = json_array_get(arr, i);
            if (!json_is_string(it)) {
                set_err(err, errlen, "%s.set.item[%zu] must be a string", ctx, i);
                return -EINVAL;
            }
            if (!(res->items[res->n_items] = strdup(json_string_value(it))))
                return -ENOMEM;
            res->n_items++;
        }
        res->n_items = items_normalize(res->items, res->n_items);
        return 0;
    }
    }
    return -EINVAL;
}

static int parse_resource_json(const json_t *o, const char *default_role, struct ag_resource *res,
                               const char *ctx, char *err, size_t errlen)
{
    char rerr[200];
    int r;
    memset(res, 0, sizeof(*res));
    if (!json_is_object(o)) {
        set_err(err, errlen, "%s must be an object", ctx);
        return -EINVAL;
    }
    json_t *name = member(o, "name"), *type = member(o, "type");
    if (!json_is_string(name)) {
        set_err(err, errlen, "%s.name must be a string", ctx);
        return -EINVAL;
    }
    if (!(res->name = strdup(json_string_value(name))))
        return -ENOMEM;
    if ((r = check_name(res->name, err, errlen, ctx)) < 0)
        return r;
    const char *t = json_is_string(type) ? json_string_value(type) : "";
    if (strcmp(t, "SCALAR") == 0) {
        res->type = AG_VALUE_SCALAR;
    } else if (strcmp(t, "RANGES") == 0) {
        res->type = AG_VALUE_RANGES;
    } else if (strcmp(t, "SET") == 0) {
        res->type = AG_VALUE_SET;
    } else {
        set_err(err, errlen, "%s.type must be \"SCALAR\", \"RANGES\" or \"SET\"", ctx);
        return -EINVAL;
    }
    if ((r = check_known_type(res->name, res->type, err, errlen, ctx)) < 0)
        return r;
    if ((r = parse_value_json(o, res, ctx, err, errlen)) < 0)
        return r;
    if ((r = parse_reservations_json(o, default_role, res, ctx, err, errlen)) < 0)
        return r;

    json_t *alloc = member(o, "allocation_info");
    if (alloc) {
        json_t *ar = json_is_object(alloc) ? member(alloc, "role") : NULL;
        if (!json_is_object(alloc) || (ar && !json_is_string(ar))) {
            set_err(err, errlen, "%s.allocation_info must be {\"role\": string}", ctx);
            return -EINVAL;
        }
        if (ar) {
            if (ag_role_validate(json_string_value(ar), rerr, sizeof(rerr)) < 0) {
                set_err(err, errlen, "%s.allocation_info.role: %s", ctx, rerr);
                return -EINVAL;
            }
            if (!(res->allocation_role = strdup(json_string_value(ar))))
                return -ENOMEM;
        }
    }
    json_t *rev = member(o, "revocable");
    if (rev) {
        if (!json_is_object(rev)) {
            set_err(err, errlen, "%s.revocable must be an object", ctx);
            return -EINVAL;
        }
        res->revocable = true;
    }
    json_t *disk = member(o, "disk");
    if (disk) {
        if (!json_is_object(disk)) {
            set_err(err, errlen, "%s.disk must be an object", ctx);
            return -EINVAL;
        }
        if (!(res->disk = json_deep_copy(disk)))
            return -ENOMEM;
    }
    return 0;
}

static int from_json_impl(const json_t *array, const char *default_role, struct ag_resources *ret,
                          char *err, size_t errlen)
{
    struct ag_resources out;
    ag_resources_init(&out);
    ag_resources_init(ret);
    if (!json_is_array(array)) {
        set_err(err, errlen, "resources must be a JSON array");
        return -EINVAL;
    }
    for (size_t i = 0; i < json_array_size(array); i++) {
        char ctx[48];
        struct ag_resource res;
        snprintf(ctx, sizeof(ctx), "resources[%zu]", i);
        int r = parse_resource_json(json_array_get(array, i), default_role, &res, ctx, err, errlen);
        if (r == 0)
            r = ag_resources_add_one(&out, &res);
        ag_resource_release(&res);
        if (r < 0) {
            if (r == -ENOMEM)
                set_err(err, errlen, "out of memory parsing resources");
            ag_resources_release(&out);
            return r;
        }
    }
    *ret = out;
    return 0;
}

int ag_resources_from_json(const json_t *array, struct ag_resources *ret, char *err, size_t errlen)
{
    return from_json_impl(array, NULL, ret, err, errlen);
}

static json_t *scalar_json(int64_t milli)
{
    return json_real((double)milli / 1000.0);
}

/* Range bounds are uint64; JSON integers here are int64. */
static json_t *u64_json(uint64_t v)
{
    return v <= INT64_MAX ? json_integer((json_int_t)v) : json_real((double)v);
}

static json_t *reservation_json(const struct ag_reservation *rv, bool with_role)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    if (with_role) {
        json_object_set_new(o, "type",
                            json_string(rv->type == AG_RESERVATION_STATIC ? "STATIC" : "DYNAMIC"));
        json_object_set_new(o, "role", json_string(rv->role));
    }
    if (rv->principal)
        json_object_set_new(o, "principal", json_string(rv->principal));
    if (rv->labels)
        json_object_set_new(o, "labels", json_deep_copy(rv->labels));
    return o;
}

static json_t *resource_json(const struct ag_resource *e, enum ag_resources_format format)
{
    static const char *const type_names[] = {"SCALAR", "RANGES", "SET"};
    json_t *o = json_object();
    if (!o)
        return NULL;
    json_object_set_new(o, "name", json_string(e->name));
    json_object_set_new(o, "type", json_string(type_names[e->type]));
    if (e->type == AG_VALUE_SCALAR) {
        json_object_set_new(o, "scalar", json_pack("{s:o}", "value", scalar_json(e->scalar_milli)));
    } else if (e->type == AG_VALUE_RANGES) {
        json_t *arr = json_array();
        for (size_t i = 0; i < e->n_ranges; i++)
            json_array_append_new(arr, json_pack("{s:o,s:o}", "begin", u64_json(e->ranges[i].begin),
                                                 "end", u64_json(e->ranges[i].end)));
        json_object_set_new(o, "ranges", json_pack("{s:o}", "range", arr));
    } else {
        json_t *arr = json_array();
        for (size_t i = 0; i < e->n_items; i++)
            json_array_append_new(arr, json_string(e->items[i]));
        json_object_set_new(o, "set", json_pack("{s:o}", "item", arr));
    }
    if (format == AG_RESOURCES_PRE_REFINEMENT) {
        json_object_set_new(o, "role", json_string(ag_resource_reserved_role(e)));
        if (e->n_reservations) {
            const struct ag_reservation *in = &e->reservations[e->n_reservations - 1];
            if (in->type == AG_RESERVATION_DYNAMIC)
                json_object_set_new(o, "reservation", reservation_json(in, false));
        }
    } else if (e->n_reservations) {
        json_t *arr = json_array();
        for (size_t i = 0; i < e->n_reservations; i++)
            json_array_append_new(arr, reservation_json(&e->reservations[i], true));
        json_object_set_new(o, "reservations", arr);
    }
    if (e->allocation_role)
        json_object_set_new(o, "allocation_info", json_pack("{s:s}", "role", e->allocation_role));
    if (e->revocable)
        json_object_set_new(o, "revocable", json_object());
    if (e->disk)
        json_object_set_new(o, "disk", json_deep_copy(e->disk));
    return o;
}

json_t *ag_resources_to_json(const struct ag_resources *r, enum ag_resources_format format)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && r && i < r->n; i++) {
        json_t *o = resource_json(&r->items[i], format);
        if (!o || json_array_append_new(arr, o) < 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

/* ---- flattened and text output ---- */

/* Appends to out at *pos, never past outlen; *pos keeps counting so the
 * caller can tell how much room was needed. */
static void put(char *out, size_t outlen, size_t *pos, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void put(char *out, size_t outlen, size_t *pos, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n =
        vsnprintf(*pos < outlen ? out + *pos : NULL, *pos < outlen ? outlen - *pos : 0, fmt, ap);
    va_end(ap);
    if (n > 0)
        *pos += (size_t)n;
}

static void ranges_format(const struct ag_range *r, size_t n, const char *sep, char *out,
                          size_t outlen, size_t *pos)
{
    put(out, outlen, pos, "[");
    for (size_t i = 0; i < n; i++)
        put(out, outlen, pos, "%s%llu-%llu", i ? sep : "", (unsigned long long)r[i].begin,
            (unsigned long long)r[i].end);
    put(out, outlen, pos, "]");
}

static void items_format(char *const *v, size_t n, const char *sep, char *out, size_t outlen,
                         size_t *pos)
{
    put(out, outlen, pos, "{");
    for (size_t i = 0; i < n; i++)
        put(out, outlen, pos, "%s%s", i ? sep : "", v[i]);
    put(out, outlen, pos, "}");
}

static void scalar_format(int64_t milli, char *out, size_t outlen, size_t *pos)
{
    put(out, outlen, pos, "%lld", (long long)(milli / 1000));
    int frac = (int)(milli % 1000);
    if (frac) {
        char f[8];
        snprintf(f, sizeof(f), "%03d", frac);
        for (int k = 2; k > 0 && f[k] == '0'; k--)
            f[k] = '\0';
        put(out, outlen, pos, ".%s", f);
    }
}

/* Formats with a two-pass measure-then-write, so any size works. */
static char *format_value(const struct ag_resource *e, const char *sep)
{
    size_t pos = 0;
    char *out = NULL;
    for (int pass = 0; pass < 2; pass++) {
        size_t cap = pass ? pos + 1 : 0;
        if (pass && !(out = malloc(cap)))
            return NULL;
        pos = 0;
        if (e->type == AG_VALUE_SCALAR)
            scalar_format(e->scalar_milli, out, cap, &pos);
        else if (e->type == AG_VALUE_RANGES)
            ranges_format(e->ranges, e->n_ranges, sep, out, cap, &pos);
        else
            items_format(e->items, e->n_items, sep, out, cap, &pos);
    }
    if (pos == 0)
        out[0] = '\0';
    return out;
}

json_t *ag_resources_flatten(const struct ag_resources *r)
{
    /* Merge by flattened key, dropping reservations and allocation. */
    struct ag_resources by_key;
    ag_resources_init(&by_key);
    json_t *o = json_object();
    if (!o)
        return NULL;
    for (size_t i = 0; r && i < r->n; i++) {
        const struct ag_resource *e = &r->items[i];
        struct ag_resource k;
        memset(&k, 0, sizeof(k));
        size_t len = strlen(e->name) + sizeof("_revocable");
        if (!(k.name = malloc(len)))
            goto oom;
        snprintf(k.name, len, "%s%s", e->name, e->revocable ? "_revocable" : "");
        k.type = e->type;
        k.scalar_milli = e->scalar_milli;
        k.ranges = e->ranges;
        k.n_ranges = e->n_ranges;
        k.items = e->items;
        k.n_items = e->n_items;
        int rc = ag_resources_add_one(&by_key, &k);
        free(k.name);
        if (rc < 0)
            goto oom;
    }
    static const char *const always[] = {"cpus", "gpus", "mem", "disk"};
    for (size_t i = 0; i < sizeof(always) / sizeof(always[0]); i++)
        json_object_set_new(o, always[i],
                            scalar_json(ag_resources_scalar_milli(&by_key, always[i])));
    for (size_t i = 0; i < by_key.n; i++) {
        const struct ag_resource *e = &by_key.items[i];
        if (e->type == AG_VALUE_SCALAR) {
            json_object_set_new(o, e->name, scalar_json(e->scalar_milli));
        } else {
            char *v = format_value(e, ", ");
            if (!v)
                goto oom;
            json_object_set_new(o, e->name, json_string(v));
            free(v);
        }
    }
    ag_resources_release(&by_key);
    return o;
oom:
    ag_resources_release(&by_key);
    json_decref(o);
    return NULL;
}

char *ag_resources_string(const struct ag_resources *r)
{
    size_t len = 0, cap = 64;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    out[0] = '\0';
    for (size_t i = 0; r && i < r->n; i++) {
        const struct ag_resource *e = &r->items[i];
        char *v = format_value(e, ",");
        if (!v)
            goto oom;
        const char *role = ag_resource_reserved_role(e);
        size_t need = strlen(e->name) + strlen(role) + strlen(v) + 16;
        if (len + need >= cap) {
            while (len + need >= cap)
                cap *= 2;
            char *p = realloc(out, cap);
            if (!p) {
                free(v);
                goto oom;
            }
            out = p;
        }
        len += (size_t)snprintf(out + len, cap - len, "%s%s%s%s%s%s:%s", i ? ";" : "", e->name,
                                e->n_reservations ? "(" : "", e->n_reservations ? role : "",
                                e->n_reservations ? ")" : "", e->revocable ? "{REV}" : "", v);
        free(v);
    }
    return out;
oom:
    free(out);
    return NULL;
}
