/* SPDX-License-Identifier: MIT */
/*
 * uipc bench --svg: the results as a bar chart, written by hand (no
 * dependency).  One block per message size, rows sorted by latency as in
 * the table; on the left, log-scale bars of one-way p50 latency with the
 * p99 as a thin whisker; on the right, log-scale bars of throughput in
 * MB/s.  Colours tell libuipc, raw mechanisms and peer libraries apart.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bench.h"

#define W 1120
#define LABEL_X 12
#define LAT_X0 190
#define LAT_X1 600
#define THR_X0 680
#define THR_X1 1060
#define ROW_H 19
#define BAR_H 12

static const char *colour(enum bench_group g)
{
    return g == GROUP_UIPC ? "#2b6cb0" : g == GROUP_RAW ? "#8a94a6" : "#dd6b20";
}

static void text_escaped(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default: putc(*s, f);
        }
    }
}

struct scale {
    double lo, hi; /* decades, log10 */
    double x0, x1;
};

static double sx(const struct scale *s, double v)
{
    double l = log10(v);
    if (l < s->lo)
        l = s->lo;
    return s->x0 + (l - s->lo) / (s->hi - s->lo) * (s->x1 - s->x0);
}

static void fmt_time(double ns, char *out, size_t cap)
{
    if (ns < 1000)
        snprintf(out, cap, "%.0f ns", ns);
    else if (ns < 1e6)
        snprintf(out, cap, "%.3g \xc2\xb5s", ns / 1e3);
    else
        snprintf(out, cap, "%.3g ms", ns / 1e6);
}

static void fmt_bw(double mbps, char *out, size_t cap)
{
    if (mbps >= 1000)
        snprintf(out, cap, "%.3g GB/s", mbps / 1000);
    else
        snprintf(out, cap, "%.3g MB/s", mbps);
}

static void axis(FILE *f, const struct scale *s, double y0, double y1, bool time)
{
    for (int d = (int)s->lo; d <= (int)s->hi; d++) {
        double x = s->x0 + (d - s->lo) / (s->hi - s->lo) * (s->x1 - s->x0);
        char label[32];
        if (time)
            fmt_time(pow(10, d), label, sizeof label);
        else
            fmt_bw(pow(10, d), label, sizeof label);
        fprintf(f, "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' stroke='#e2e8f0'/>\n", x, y0, x,
                y1);
        fprintf(f, "<text x='%.1f' y='%.1f' class='ax' text-anchor='middle'>%s</text>\n", x,
                y0 - 4, label);
    }
}

int bench_write_svg(const char *path, const struct bench_row *rows, size_t nrows,
                    const size_t *sizes, size_t nsizes, const char *subtitle)
{
    /* Decades that hold every value, shared by all blocks so they compare. */
    double lat_min = 1e18, lat_max = 0, thr_min = 1e18, thr_max = 0;
    for (size_t i = 0; i < nrows; i++) {
        const struct bench_result *r = &rows[i].r;
        if (r->lat_ok) {
            lat_min = fmin(lat_min, r->p50);
            lat_max = fmax(lat_max, fmax(r->p99, r->p50));
        }
        if (r->thr_ok && r->mbps > 0) {
            thr_min = fmin(thr_min, r->mbps);
            thr_max = fmax(thr_max, r->mbps);
        }
    }
    if (lat_max == 0)
        lat_min = 1e3, lat_max = 1e5;
    if (thr_max == 0)
        thr_min = 1, thr_max = 1e3;
    struct scale lat = {floor(log10(lat_min)), ceil(log10(lat_max)), LAT_X0, LAT_X1};
    struct scale thr = {floor(log10(thr_min)), ceil(log10(thr_max)), THR_X0, THR_X1};
    if (lat.hi <= lat.lo)
        lat.hi = lat.lo + 1;
    if (thr.hi <= thr.lo)
        thr.hi = thr.lo + 1;

    size_t lines = 0;
    for (size_t s = 0; s < nsizes; s++)
        for (size_t i = 0; i < nrows; i++)
            lines += rows[i].size == sizes[s];
    double height = 110 + (double)nsizes * 58 + (double)lines * ROW_H + 30;

    FILE *f = fopen(path, "we");
    if (!f)
        return -errno;
    fprintf(f, "<?xml version='1.0' encoding='UTF-8'?>\n"
               "<svg xmlns='http://www.w3.org/2000/svg' width='%d' height='%.0f' "
               "viewBox='0 0 %d %.0f' font-family='DejaVu Sans, Helvetica, Arial, sans-serif'>\n"
               "<style>text{font-size:12px;fill:#1a202c} .ax{font-size:10px;fill:#718096} "
               ".v{font-size:10px;fill:#2d3748} .h{font-size:14px;font-weight:bold} "
               ".t{font-size:18px;font-weight:bold}</style>\n"
               "<rect width='100%%' height='100%%' fill='white'/>\n",
            W, height, W, height);
    fprintf(f, "<text x='%d' y='28' class='t'>uipc bench: one-way latency and throughput</text>\n",
            LABEL_X);
    fprintf(f, "<text x='%d' y='48' class='ax'>", LABEL_X);
    text_escaped(f, subtitle);
    fprintf(f, "; bars are log scale; latency bar = p50, whisker = p99</text>\n");
    /* Legend. */
    const char *names[] = {"libuipc", "raw mechanism", "peer library"};
    for (int g = 0; g < 3; g++) {
        double x = LABEL_X + g * 150;
        fprintf(f, "<rect x='%.0f' y='60' width='12' height='12' fill='%s'/>"
                   "<text x='%.0f' y='70'>%s</text>\n",
                x, colour((enum bench_group)g), x + 18, names[g]);
    }

    double y = 110;
    for (size_t s = 0; s < nsizes; s++) {
        char hdr[64];
        size_t z = sizes[s];
        if (z >= (1u << 20) && z % (1u << 20) == 0)
            snprintf(hdr, sizeof hdr, "%zu MiB messages", z >> 20);
        else if (z >= 1024 && z % 1024 == 0)
            snprintf(hdr, sizeof hdr, "%zu KiB messages", z >> 10);
        else
            snprintf(hdr, sizeof hdr, "%zu B messages", z);
        fprintf(f, "<text x='%d' y='%.1f' class='h'>%s</text>\n", LABEL_X, y, hdr);
        fprintf(f, "<text x='%d' y='%.1f' class='ax'>one-way latency, p50 (log)</text>\n", LAT_X0,
                y);
        fprintf(f, "<text x='%d' y='%.1f' class='ax'>throughput (log)</text>\n", THR_X0, y);
        y += 30;
        size_t in_block = 0;
        for (size_t i = 0; i < nrows; i++)
            in_block += rows[i].size == z;
        axis(f, &lat, y - 6, y + (double)in_block * ROW_H, true);
        axis(f, &thr, y - 6, y + (double)in_block * ROW_H, false);
        for (size_t i = 0; i < nrows; i++) {
            const struct bench_row *w = &rows[i];
            if (w->size != z)
                continue;
            const char *fill = colour(w->bc->group);
            fprintf(f, "<text x='%d' y='%.1f'>", LABEL_X, y + BAR_H - 2);
            text_escaped(f, w->bc->name);
            fprintf(f, "</text>\n");
            char v[48];
            if (w->r.lat_ok) {
                double x = sx(&lat, w->r.p50), x99 = sx(&lat, w->r.p99);
                fprintf(f, "<rect x='%d' y='%.1f' width='%.1f' height='%d' fill='%s'/>\n", LAT_X0,
                        y, fmax(x - LAT_X0, 1), BAR_H, fill);
                fprintf(f, "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' stroke='%s'/>"
                           "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' stroke='%s'/>\n",
                        x, y + BAR_H / 2.0, x99, y + BAR_H / 2.0, fill, x99, y + 2, x99,
                        y + BAR_H - 2, fill);
                fmt_time(w->r.p50, v, sizeof v);
                fprintf(f, "<text x='%.1f' y='%.1f' class='v'>%s", fmax(x, x99) + 4,
                        y + BAR_H - 2, v);
                if (w->ratio_raw_lat > 0)
                    fprintf(f, " (%.2fx raw)", w->ratio_raw_lat);
                fprintf(f, "</text>\n");
            } else {
                fprintf(f, "<text x='%d' y='%.1f' class='v'>", LAT_X0, y + BAR_H - 2);
                text_escaped(f, w->bc->local ? "(single process: copy bandwidth only)"
                                 : w->r.note[0] ? w->r.note : "n/a");
                fprintf(f, "</text>\n");
            }
            if (w->r.thr_ok && w->r.mbps > 0) {
                double x = sx(&thr, w->r.mbps);
                fprintf(f, "<rect x='%d' y='%.1f' width='%.1f' height='%d' fill='%s' "
                           "fill-opacity='0.75'/>\n",
                        THR_X0, y, fmax(x - THR_X0, 1), BAR_H, fill);
                fmt_bw(w->r.mbps, v, sizeof v);
                fprintf(f, "<text x='%.1f' y='%.1f' class='v'>%s</text>\n", x + 4, y + BAR_H - 2,
                        v);
            }
            y += ROW_H;
        }
        y += 28;
    }
    fprintf(f, "</svg>\n");
    if (fclose(f) != 0)
        return -errno;
    return 0;
}
