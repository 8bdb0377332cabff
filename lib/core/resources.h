/*
 * resources: the resource math of the kernel.
 *
 * A resource is a named value (SCALAR, RANGES or SET) with the reservation
 * stack it sits in, the role it is allocated to, and whether it is
 * revocable. A resource set keeps one entry per identity (everything but
 * the value), so "cpus:1" + "cpus:2" is one entry "cpus:3". Scalars are
 * kept in thousandths, as Mesos compares them at 0.001 precision, so sums
 * and differences are exact.
 *
 * Text form (agent --resources): "cpus:2;mem:1024;disk:4096;ports:[31000-32000]"
 * with optional role "cpus(eng):2" (a static reservation), sets "{a,b}".
 * A JSON array of Mesos Resource objects is accepted too.
 */
#ifndef AG_CORE_RESOURCES_H
#define AG_CORE_RESOURCES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

enum ag_value_type {
    AG_VALUE_SCALAR = 0,
    AG_VALUE_RANGES = 1,
    AG_VALUE_SET = 2,
};

struct ag_range {
    uint64_t begin, end; /* inclusive */
};

enum ag_reservation_type {
    AG_RESERVATION_STATIC = 1,
    AG_RESERVATION_DYNAMIC = 2,
};

struct ag_reservation {
    enum ag_reservation_type type;
    char *role;
    char *principal; /* NULL if none */
    json_t *labels;  /* Labels object, NULL if none */
};

struct ag_resource {
    char *name;
    enum ag_value_type type;
    int64_t scalar_milli;    /* SCALAR: value x 1000 */
    struct ag_range *ranges; /* RANGES: sorted, disjoint, non-adjacent */
    size_t n_ranges;
    char **items; /* SET: sorted, unique */
    size_t n_items;
    struct ag_reservation *reservations; /* outermost first; none = unreserved */
    size_t n_reservations;
    char *allocation_role; /* allocation_info.role; NULL if not allocated */
    bool revocable;
    json_t *disk; /* DiskInfo, carried as given; NULL if none */
};

struct ag_resources {
    struct ag_resource *items;
    size_t n, cap;
};

enum ag_resources_format {
    /* "role" (and "reservation") fields: what frameworks without the
     * RESERVATION_REFINEMENT capability and the legacy endpoints expect. */
    AG_RESOURCES_PRE_REFINEMENT = 0,
    /* "reservations" stack only. */
    AG_RESOURCES_POST_REFINEMENT = 1,
};

void ag_resources_init(struct ag_resources *r);
void ag_resources_release(struct ag_resources *r);
void ag_resources_clear(struct ag_resources *r);
/* dst becomes a deep copy of src (dst must be initialised). 0 or -ENOMEM. */
int ag_resources_copy(struct ag_resources *dst, const struct ag_resources *src);

/* Parses the text form (or a JSON array). Resources without a role get
 * default_role ("*" or NULL means unreserved). On error writes a message
 * naming the bad part into err and returns -EINVAL; ret is then empty.
 * ret need not be initialised: it is overwritten (initialised here), and
 * anything it held before is not freed. Same for from_json and filter.
 * Text details: tokens are separated by ';' and trimmed; empty tokens and
 * zero values are dropped; entries of one identity merge ("cpus:1;cpus:2"
 * is cpus:3); scalars are rounded to thousandths and must be finite, >= 0
 * and <= 1e12; ranges "[b-e, b-e]" (a bare "[p]" is [p-p]); cpus, mem,
 * disk and gpus must be scalars and ports ranges; names, roles and set
 * items must be valid UTF-8. With a JSON array, default_role applies to
 * entries that have none of "role", "reservation", "reservations". */
int ag_resources_parse(const char *text, const char *default_role, struct ag_resources *ret,
                       char *err, size_t errlen);
/* Parses a JSON array of Mesos Resource objects, in either the pre- or
 * post-refinement format. Validates names, types, non-negative scalars,
 * ranges begin <= end. -EINVAL with a message naming the field. */
int ag_resources_from_json(const json_t *array, struct ag_resources *ret, char *err, size_t errlen);
/* A JSON array of Resource objects in the given format. New reference.
 * Pre-refinement writes "role" (the innermost reservation's, or "*") and,
 * for a dynamic innermost reservation, "reservation" {principal, labels};
 * a refined stack cannot be expressed there and is reduced to its
 * innermost role: do not send refined resources in that format. */
json_t *ag_resources_to_json(const struct ag_resources *r, enum ag_resources_format format);
/* The legacy flattened object: {"cpus":2,"gpus":0,"mem":1024,"disk":0,
 * "ports":"[31000-32000]"}; cpus, gpus, mem and disk always present. */
json_t *ag_resources_flatten(const struct ag_resources *r);
/* Human-readable text form, malloc'd: "cpus:2;mem:1024;ports:[31000-32000]". */
char *ag_resources_string(const struct ag_resources *r);

/* dst += src. 0 or -ENOMEM. */
int ag_resources_add(struct ag_resources *dst, const struct ag_resources *src);
int ag_resources_add_one(struct ag_resources *dst, const struct ag_resource *src);
/* Appends the scalar quantity `name` = milli/1000 as its own unreserved
 * entry, even when it is zero. Only for quantity lists such as quota
 * limits, where 0 means "none" rather than "no limit"; every other set
 * drops empty entries, so do not mix such a list with add/subtract/
 * contains. 0, -EINVAL for a bad name or negative value, -ENOMEM. */
int ag_resources_push_quantity(struct ag_resources *r, const char *name, int64_t milli);
/* dst -= src if dst contains src (then 0); else -ERANGE and dst unchanged
 * (also unchanged on -ENOMEM). Note that ranges and sets add by union, so
 * (a + a) - a is empty for them. */
int ag_resources_subtract(struct ag_resources *dst, const struct ag_resources *src);
/* Whether every resource of b is within a (same identity, enough value). */
bool ag_resources_contains(const struct ag_resources *a, const struct ag_resources *b);
bool ag_resources_equal(const struct ag_resources *a, const struct ag_resources *b);
bool ag_resources_empty(const struct ag_resources *r);

/* Sum of scalar `name` over all entries (any role), in thousandths / units. */
int64_t ag_resources_scalar_milli(const struct ag_resources *r, const char *name);
double ag_resources_scalar(const struct ag_resources *r, const char *name);

/* Sets (role != NULL) or clears the allocation role of every entry. */
int ag_resources_set_allocation_role(struct ag_resources *r, const char *role);
/* ret = the entries of src for which keep() is true. 0 or -ENOMEM. */
int ag_resources_filter(const struct ag_resources *src,
                        bool (*keep)(const struct ag_resource *res, void *arg), void *arg,
                        struct ag_resources *ret);

/* The role a resource is reserved to (innermost reservation), or "*". */
const char *ag_resource_reserved_role(const struct ag_resource *res);
bool ag_resource_is_reserved(const struct ag_resource *res);
/* Whether res may be offered to `role`: unreserved, or reserved to role
 * or one of its ancestors ("eng" resources may go to "eng/web"). */
bool ag_resource_allocatable_to(const struct ag_resource *res, const char *role);

/* Deep copy / release of one entry. */
int ag_resource_copy(struct ag_resource *dst, const struct ag_resource *src);
void ag_resource_release(struct ag_resource *res);

/* Validates a role name as Mesos does ("*", or '/'-separated components,
 * none empty, ".", "..", starting with '-', or containing whitespace,
 * '/' at either end, or "//"). 0, or -EINVAL with a message. */
int ag_role_validate(const char *role, char *err, size_t errlen);

#endif
