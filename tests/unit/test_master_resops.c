/* Unit tests of master/resops.c and master/roles.c: the conversions of
 * RESERVE/UNRESERVE/CREATE/DESTROY, their validation, the merge of a
 * checkpointed total, and the parsing of the allocator flags. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "master/internal.h"
#include "test.h"

static struct ag_resources parse(const char *json)
{
    struct ag_resources r;
    char err[256] = "";
    json_t *j = json_loads(json, 0, NULL);
    if (!j || ag_resources_from_json(j, &r, err, sizeof(err)) < 0) {
        fprintf(stderr, "bad fixture %s: %s\n", json, err);
        abort();
    }
    json_decref(j);
    return r;
}

/* A framework in `role` (optionally with a principal), enough for resops. */
struct fixture {
    struct ag_master_agent agent;
    struct ag_master_framework fw;
    char *roles[1];
};

static void fixture_init(struct fixture *f, const char *total, const char *role,
                         const char *principal, unsigned caps)
{
    memset(f, 0, sizeof(*f));
    f->agent.id = (char *)"S0";
    f->agent.total = parse(total);
    f->roles[0] = (char *)role;
    f->fw.id = (char *)"F0";
    f->fw.roles = f->roles;
    f->fw.n_roles = 1;
    f->fw.caps = caps;
    f->fw.info = principal ? json_pack("{s:s}", "principal", principal) : json_object();
}

static void fixture_release(struct fixture *f)
{
    ag_resources_release(&f->agent.total);
    json_decref(f->fw.info);
}

static int build(struct fixture *f, bool operator, enum ag_master_conv_type type,
                 const char *payload, struct ag_resources *from, struct ag_resources *to, char *err,
                 size_t errlen)
{
    json_t *p = json_loads(payload, 0, NULL);
    if (!p)
        abort();
    int r = ag_master_conversion_build(
        &f->agent, operator? NULL : & f->fw, operator? NULL : f->roles[0], type, p, from, to, err,
        errlen);
    json_decref(p);
    return r;
}

#define TOTAL                                                                                      \
    "[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":4}},"                           \
    "{\"name\":\"disk\",\"type\":\"SCALAR\",\"scalar\":{\"value\":100}}]"

TEST(reserve_builds_pop_and_push)
{
    struct fixture f;
    struct ag_resources from, to;
    char err[512] = "";
    fixture_init(&f, TOTAL, "eng", NULL, 0);
    ASSERT_EQ(
        build(&f, false, AG_CONV_RESERVE,
              "{\"resources\":[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1},"
              "\"reservations\":[{\"type\":\"DYNAMIC\",\"role\":\"eng\"}]}]}",
              &from, &to, err, sizeof(err)),
        0);
    ASSERT_EQ(from.n, 1u);
    ASSERT_EQ(from.items[0].n_reservations, 0u);
    ASSERT_STREQ(from.items[0].allocation_role, "eng");
    ASSERT_EQ(to.items[0].n_reservations, 1u);
    ASSERT_STREQ(to.items[0].reservations[0].role, "eng");
    ag_resources_release(&from);
    ag_resources_release(&to);
    fixture_release(&f);
}

TEST(reserve_rules)
{
    static const struct {
        const char *payload, *word;
    } cases[] = {
        {"{\"resources\":[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1}}]}",
         "no reservation"},
        {"{\"resources\":[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1},"
         "\"reservations\":[{\"type\":\"DYNAMIC\",\"role\":\"ops\"}]}]}",
         "not a role of the framework"},
        {"{\"resources\":[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1},"
         "\"reservations\":[{\"type\":\"STATIC\",\"role\":\"eng\"}]}]}",
         "DYNAMIC"},
        {"{\"resources\":[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1},"
         "\"reservations\":[{\"type\":\"DYNAMIC\",\"role\":\"eng\",\"principal\":\"bob\"}]}]}",
         "principal"},
        {"{\"resources\":[]}", "non-empty"},
        {"{}", "non-empty"},
        {"{\"resources\":[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1},"
         "\"reservations\":[{\"type\":\"STATIC\",\"role\":\"eng\"},"
         "{\"type\":\"DYNAMIC\",\"role\":\"eng/a\",\"principal\":\"alice\"}]}]}",
         "RESERVATION_REFINEMENT"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct fixture f;
        struct ag_resources from, to;
        char err[512] = "";
        fixture_init(&f, TOTAL, "eng", "alice", 0);
        ASSERT_EQ(build(&f, false, AG_CONV_RESERVE, cases[i].payload, &from, &to, err, sizeof(err)),
                  -EINVAL);
        if (!strstr(err, cases[i].word))
            AG_TEST_FAIL("case %zu: '%s' does not name '%s'", i, err, cases[i].word);
        ASSERT_TRUE(ag_resources_empty(&from) && ag_resources_empty(&to));
        fixture_release(&f);
    }
}

#define VOLUME(id, path)                                                                           \
    "{\"name\":\"disk\",\"type\":\"SCALAR\",\"scalar\":{\"value\":10},"                            \
    "\"reservations\":[{\"type\":\"DYNAMIC\",\"role\":\"eng\"}],"                                  \
    "\"disk\":{\"persistence\":{\"id\":\"" id "\"},\"volume\":{\"mode\":\"RW\","                   \
    "\"container_path\":\"" path "\"}}}"

TEST(create_and_destroy)
{
    struct fixture f;
    struct ag_resources from, to;
    char err[512] = "";
    fixture_init(&f, TOTAL, "eng", NULL, 0);
    ASSERT_EQ(build(&f, true, AG_CONV_CREATE, "{\"volumes\":[" VOLUME("v1", "data") "]}", &from,
                    &to, err, sizeof(err)),
              0);
    ASSERT_NULL(from.items[0].disk);
    ASSERT_NOT_NULL(to.items[0].disk);
    ASSERT_NULL(from.items[0].allocation_role);
    /* The agent now has it: a second CREATE of that id is refused. */
    ag_resources_add(&f.agent.total, &to);
    ag_resources_release(&from);
    ag_resources_release(&to);
    ASSERT_EQ(build(&f, true, AG_CONV_CREATE, "{\"volumes\":[" VOLUME("v1", "data") "]}", &from,
                    &to, err, sizeof(err)),
              -EINVAL);
    ASSERT_NOT_NULL(strstr(err, "already in use"));
    ASSERT_EQ(build(&f, true, AG_CONV_CREATE, "{\"volumes\":[" VOLUME("v2", "../x") "]}", &from,
                    &to, err, sizeof(err)),
              -EINVAL);
    ASSERT_NOT_NULL(strstr(err, "container_path"));
    ASSERT_EQ(build(&f, true, AG_CONV_CREATE, "{\"volumes\":[" VOLUME("..", "x") "]}", &from, &to,
                    err, sizeof(err)),
              -EINVAL);
    ASSERT_EQ(build(&f, true, AG_CONV_DESTROY, "{\"volumes\":[" VOLUME("v1", "data") "]}", &from,
                    &to, err, sizeof(err)),
              0);
    ASSERT_NULL(to.items[0].disk);
    ASSERT_EQ(to.items[0].n_reservations, 1u);
    ag_resources_release(&from);
    ag_resources_release(&to);
    ASSERT_EQ(build(&f, true, AG_CONV_DESTROY, "{\"volumes\":[" VOLUME("v9", "data") "]}", &from,
                    &to, err, sizeof(err)),
              -EINVAL);
    ASSERT_NOT_NULL(strstr(err, "no volume"));
    /* A volume cannot be unreserved before it is destroyed. */
    ASSERT_EQ(build(&f, true, AG_CONV_UNRESERVE, "{\"resources\":[" VOLUME("v1", "data") "]}",
                    &from, &to, err, sizeof(err)),
              -EINVAL);
    ASSERT_NOT_NULL(strstr(err, "destroy it first"));
    fixture_release(&f);
}

TEST(merge_checkpoint_keeps_static_and_known_dynamic)
{
    struct ag_resources reported =
        parse("[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":4}},"
              "{\"name\":\"disk\",\"type\":\"SCALAR\",\"scalar\":{\"value\":100}}]");
    struct ag_resources known =
        parse("[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":3}},"
              "{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1},"
              "\"reservations\":[{\"type\":\"DYNAMIC\",\"role\":\"eng\"}]},"
              "{\"name\":\"disk\",\"type\":\"SCALAR\",\"scalar\":{\"value\":90}}," VOLUME(
                  "v", "d") ","
                            "{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":50},"
                            "\"reservations\":[{\"type\":\"DYNAMIC\",\"role\":\"big\"}]}]");
    struct ag_resources merged;
    ASSERT_EQ(ag_master_resources_merge_checkpoint(&reported, &known, &merged), 0);
    /* cpus:50 reserved for big does not fit in 4 cpus: dropped. */
    ASSERT_NEAR(ag_resources_scalar(&merged, "cpus"), 4, 1e-9);
    ASSERT_NEAR(ag_resources_scalar(&merged, "disk"), 100, 1e-9);
    struct ag_resources want = parse(
        "[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":3}},"
        "{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1},"
        "\"reservations\":[{\"type\":\"DYNAMIC\",\"role\":\"eng\"}]},"
        "{\"name\":\"disk\",\"type\":\"SCALAR\",\"scalar\":{\"value\":90}}," VOLUME("v", "d") "]");
    ASSERT_TRUE(ag_resources_equal(&merged, &want));
    ag_resources_release(&reported);
    ag_resources_release(&known);
    ag_resources_release(&merged);
    ag_resources_release(&want);
}

TEST(flags_parse)
{
    char err[512] = "";
    json_t *w = ag_master_weights_parse("eng=2, ops=0.5,", err, sizeof(err));
    ASSERT_NOT_NULL(w);
    ASSERT_NEAR(json_number_value(json_object_get(w, "eng")), 2, 1e-9);
    ASSERT_NEAR(json_number_value(json_object_get(w, "ops")), 0.5, 1e-9);
    json_decref(w);
    ASSERT_NULL(ag_master_weights_parse("eng=0", err, sizeof(err)));
    ASSERT_NULL(ag_master_weights_parse("eng=2x", err, sizeof(err)));
    ASSERT_NULL(ag_master_weights_parse("-eng=1", err, sizeof(err)));

    struct ag_master_config cfg;
    ag_master_config_defaults(&cfg);
    cfg.min_allocatable_resources = "cpus:0.5 | mem:32;disk:1";
    cfg.excluded_resource_names = "gpus, fpgas";
    struct ag_master_alloc_options o;
    ASSERT_EQ(ag_master_alloc_options_parse(&cfg, &o, err, sizeof(err)), 0);
    ASSERT_EQ(o.opts.n_min_allocatable, 2u);
    ASSERT_NEAR(ag_resources_scalar(&o.opts.min_allocatable_alternatives[1], "disk"), 1, 1e-9);
    ASSERT_EQ(o.opts.n_excluded_resource_names, 2u);
    ASSERT_STREQ(o.opts.excluded_resource_names[1], "fpgas");
    ag_master_alloc_options_release(&o);
    cfg.min_allocatable_resources = "cpus:1|";
    ASSERT_EQ(ag_master_alloc_options_parse(&cfg, &o, err, sizeof(err)), -EINVAL);
    ASSERT_NOT_NULL(strstr(err, "empty alternative"));
    cfg.min_allocatable_resources = "cpus(eng):1";
    ASSERT_EQ(ag_master_alloc_options_parse(&cfg, &o, err, sizeof(err)), -EINVAL);
}

TEST_MAIN(TEST_CASE(reserve_builds_pop_and_push), TEST_CASE(reserve_rules),
          TEST_CASE(create_and_destroy), TEST_CASE(merge_checkpoint_keeps_static_and_known_dynamic),
          TEST_CASE(flags_parse))
