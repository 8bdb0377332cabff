/*
 * table: aligned text tables for `agora tasks`, `agents`, `frameworks`.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

int ag_cli_table_init(struct ag_cli_table *t, const char *const *headers, size_t ncols)
{
    memset(t, 0, sizeof(*t));
    t->ncols = ncols;
    t->right = calloc(ncols ? ncols : 1, sizeof(*t->right));
    if (!t->right)
        return -ENOMEM;
    /* Row 0 is the header; nrows counts data rows only. */
    t->cap = 8;
    t->cells = calloc(t->cap * ncols + 1, sizeof(*t->cells));
    if (!t->cells) {
        free(t->right);
        t->right = NULL;
        return -ENOMEM;
    }
    for (size_t c = 0; c < ncols; c++) {
        t->cells[c] = strdup(headers[c] ? headers[c] : "");
        if (!t->cells[c]) {
            ag_cli_table_release(t);
            return -ENOMEM;
        }
    }
    return 0;
}

void ag_cli_table_align_right(struct ag_cli_table *t, size_t col)
{
    if (col < t->ncols)
        t->right[col] = true;
}

int ag_cli_table_add(struct ag_cli_table *t, const char *const *row)
{
    size_t rows = t->nrows + 1; /* with the header */
    if (rows + 1 > t->cap) {
        size_t cap = t->cap * 2;
        char **grown = realloc(t->cells, (cap * t->ncols + 1) * sizeof(*grown));
        if (!grown)
            return -ENOMEM;
        t->cells = grown;
        t->cap = cap;
    }
    char **dst = t->cells + rows * t->ncols;
    for (size_t c = 0; c < t->ncols; c++) {
        dst[c] = strdup(row[c] ? row[c] : "-");
        if (!dst[c]) {
            while (c-- > 0)
                free(dst[c]);
            return -ENOMEM;
        }
    }
    t->nrows++;
    return 0;
}

char *ag_cli_table_render(const struct ag_cli_table *t)
{
    size_t rows = t->nrows + 1;
    size_t *width = calloc(t->ncols ? t->ncols : 1, sizeof(*width));
    if (!width)
        return NULL;
    size_t total = 1;
    for (size_t r = 0; r < rows; r++) {
        for (size_t c = 0; c < t->ncols; c++) {
            size_t w = strlen(t->cells[r * t->ncols + c]);
            if (w > width[c])
                width[c] = w;
        }
    }
    size_t line = 0;
    for (size_t c = 0; c < t->ncols; c++)
        line += width[c] + 2;
    total += rows * (line + 1);
    char *out = malloc(total);
    if (!out) {
        free(width);
        return NULL;
    }
    char *p = out;
    for (size_t r = 0; r < rows; r++) {
        char *line_start = p;
        for (size_t c = 0; c < t->ncols; c++) {
            const char *cell = t->cells[r * t->ncols + c];
            size_t len = strlen(cell), pad = width[c] - len;
            if (c > 0) {
                memcpy(p, "  ", 2);
                p += 2;
            }
            if (t->right[c]) {
                memset(p, ' ', pad);
                p += pad;
            }
            memcpy(p, cell, len);
            p += len;
            if (!t->right[c]) {
                memset(p, ' ', pad);
                p += pad;
            }
        }
        while (p > line_start && p[-1] == ' ')
            p--;
        *p++ = '\n';
    }
    *p = '\0';
    free(width);
    return out;
}

void ag_cli_table_release(struct ag_cli_table *t)
{
    if (t->cells) {
        size_t rows = t->nrows + 1;
        for (size_t i = 0; i < rows * t->ncols; i++)
            free(t->cells[i]);
    }
    free(t->cells);
    free(t->right);
    memset(t, 0, sizeof(*t));
}
