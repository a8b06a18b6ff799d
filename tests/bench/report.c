/* shoal-bench's report: see report.h. */
#include "tests/bench/report.h"

#include <string.h>

void report_merge(struct phase_result *a, const struct phase_result *b)
{
    a->sets += b->sets;
    a->gets += b->gets;
    a->get_keys += b->get_keys;
    a->hits += b->hits;
    a->misses += b->misses;
    a->server_errors += b->server_errors;
    a->protocol_errors += b->protocol_errors;
    a->verify_errors += b->verify_errors;
    a->incomplete += b->incomplete;
    a->bytes_out += b->bytes_out;
    a->bytes_in += b->bytes_in;
    if (b->end_ns > a->end_ns)
        a->end_ns = b->end_ns;
    if (!a->first_error[0])
        memcpy(a->first_error, b->first_error, sizeof a->first_error);
    hist_merge(&a->lat_all, &b->lat_all);
    hist_merge(&a->lat_set, &b->lat_set);
    hist_merge(&a->lat_get, &b->lat_get);
}

static double us(uint64_t ns)
{
    return (double)ns / 1000.0;
}

static double per_second(uint64_t n, double seconds)
{
    return seconds > 0 ? (double)n / seconds : 0.0;
}

static void table_row(FILE *out, const char *name, const struct hist *h, double seconds)
{
    fprintf(out, "%-6s %12llu %12.0f %9.1f %9.1f %9.1f %9.1f %10.1f\n", name,
            (unsigned long long)h->count, per_second(h->count, seconds),
            us(hist_percentile(h, 50)), us(hist_percentile(h, 90)), us(hist_percentile(h, 99)),
            us(hist_percentile(h, 99.9)), us(h->max));
}

void report_print_table(FILE *out, const struct report *r)
{
    const struct bench_options *o = r->opt;
    const struct phase_result *m = r->main;
    fprintf(out, "shoal-bench %s:%d: %u threads x %u connections, pipeline %u, set:get %u:%u, "
                 "multiget %u\n",
            o->host, o->port, o->threads, o->conns_per_thread, o->pipeline, o->ratio_set,
            o->ratio_get, o->multiget);
    fprintf(out, "keys: %llu %s", (unsigned long long)o->key_space, keydist_name(o->key_pattern));
    if (o->key_pattern == KEYS_ZIPF)
        fprintf(out, " (exponent %g)", o->zipf_exponent);
    if (o->value_min == o->value_max)
        fprintf(out, ", values %zu B", o->value_min);
    else
        fprintf(out, ", values %zu-%zu B", o->value_min, o->value_max);
    if (o->rate > 0)
        fprintf(out, ", target %.0f req/s", o->rate);
    if (o->idle_conns)
        fprintf(out, ", %u idle connections", o->idle_conns);
    fprintf(out, "%s\n", o->verify ? "" : ", values NOT verified");
    if (r->fill)
        fprintf(out, "fill: %llu sets in %.2f s\n", (unsigned long long)r->fill->sets,
                r->fill_seconds);
    fprintf(out, "measured %.2f s\n\n", r->seconds);
    fprintf(out, "%-6s %12s %12s %9s %9s %9s %9s %10s\n", "", "requests", "req/s", "p50 us",
            "p90 us", "p99 us", "p99.9 us", "max us");
    table_row(out, "sets", &m->lat_set, r->seconds);
    table_row(out, "gets", &m->lat_get, r->seconds);
    table_row(out, "total", &m->lat_all, r->seconds);
    double hit_pct = m->get_keys ? 100.0 * (double)m->hits / (double)m->get_keys : 0.0;
    fprintf(out, "\nget keys %llu: hits %llu, misses %llu (hit ratio %.1f%%)\n",
            (unsigned long long)m->get_keys, (unsigned long long)m->hits,
            (unsigned long long)m->misses, hit_pct);
    fprintf(out, "errors: server %llu, protocol %llu, verify %llu; unanswered %llu\n",
            (unsigned long long)m->server_errors, (unsigned long long)m->protocol_errors,
            (unsigned long long)m->verify_errors, (unsigned long long)m->incomplete);
    fprintf(out, "traffic: %.1f MB/s out, %.1f MB/s in\n", per_second(m->bytes_out, r->seconds) / 1e6,
            per_second(m->bytes_in, r->seconds) / 1e6);
    if (m->first_error[0])
        fprintf(out, "first error: %s\n", m->first_error);
    if (r->aborted)
        fprintf(out, "ABORTED: %s\n", r->aborted);
}

static void json_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(out, "\\%c", ch);
        else if (ch < 0x20 || ch >= 0x7f)
            fprintf(out, "\\u%04x", ch);
        else
            fputc(ch, out);
    }
    fputc('"', out);
}

static void json_latency(FILE *out, const char *name, const struct hist *h)
{
    fprintf(out, "  \"%s\": {\"count\": %llu, \"mean\": %.3f, \"min\": %.3f, \"p50\": %.3f, "
                 "\"p90\": %.3f, \"p99\": %.3f, \"p99_9\": %.3f, \"max\": %.3f}",
            name, (unsigned long long)h->count, hist_mean(h) / 1000.0,
            h->count ? us(h->min) : 0.0, us(hist_percentile(h, 50)), us(hist_percentile(h, 90)),
            us(hist_percentile(h, 99)), us(hist_percentile(h, 99.9)), us(h->max));
}

void report_print_json(FILE *out, const struct report *r)
{
    const struct bench_options *o = r->opt;
    const struct phase_result *m = r->main;
    fprintf(out, "{\n  \"config\": {\"host\": ");
    json_string(out, o->host);
    fprintf(out, ", \"port\": %d, \"threads\": %u, \"connections_per_thread\": %u, "
                 "\"pipeline\": %u, \"ratio_set\": %u, \"ratio_get\": %u, \"multiget\": %u, "
                 "\"key_space\": %llu, \"key_pattern\": \"%s\", \"zipf_exponent\": %g, "
                 "\"value_min\": %zu, \"value_max\": %zu, \"duration\": %g, \"requests\": %llu, "
                 "\"rate\": %g, \"idle_connections\": %u, \"fill\": %s, \"verify\": %s, "
                 "\"seed\": %llu},\n",
            o->port, o->threads, o->conns_per_thread, o->pipeline, o->ratio_set, o->ratio_get,
            o->multiget, (unsigned long long)o->key_space, keydist_name(o->key_pattern),
            o->zipf_exponent, o->value_min, o->value_max, o->duration,
            (unsigned long long)o->requests, o->rate, o->idle_conns, o->fill ? "true" : "false",
            o->verify ? "true" : "false", (unsigned long long)o->seed);
    if (r->fill)
        fprintf(out, "  \"fill\": {\"sets\": %llu, \"seconds\": %.6f, \"errors\": %llu},\n",
                (unsigned long long)r->fill->sets, r->fill_seconds,
                (unsigned long long)(r->fill->server_errors + r->fill->protocol_errors));
    uint64_t ops = m->sets + m->gets;
    fprintf(out, "  \"seconds\": %.6f,\n  \"requests\": %llu,\n  \"requests_per_sec\": %.1f,\n",
            r->seconds, (unsigned long long)ops, per_second(ops, r->seconds));
    fprintf(out, "  \"sets\": %llu,\n  \"gets\": %llu,\n  \"get_keys\": %llu,\n"
                 "  \"keys_per_sec\": %.1f,\n  \"hits\": %llu,\n  \"misses\": %llu,\n",
            (unsigned long long)m->sets, (unsigned long long)m->gets,
            (unsigned long long)m->get_keys,
            per_second(m->get_keys + m->sets, r->seconds), (unsigned long long)m->hits,
            (unsigned long long)m->misses);
    fprintf(out, "  \"errors\": {\"server\": %llu, \"protocol\": %llu, \"verify\": %llu},\n"
                 "  \"unanswered\": %llu,\n  \"bytes_out\": %llu,\n  \"bytes_in\": %llu,\n",
            (unsigned long long)m->server_errors, (unsigned long long)m->protocol_errors,
            (unsigned long long)m->verify_errors, (unsigned long long)m->incomplete,
            (unsigned long long)m->bytes_out, (unsigned long long)m->bytes_in);
    fprintf(out, "  \"latency_us\": {\n");
    json_latency(out, "all", &m->lat_all);
    fputs(",\n", out);
    json_latency(out, "set", &m->lat_set);
    fputs(",\n", out);
    json_latency(out, "get", &m->lat_get);
    fputs("\n  },\n  \"first_error\": ", out);
    if (m->first_error[0])
        json_string(out, m->first_error);
    else
        fputs("null", out);
    fputs(",\n  \"aborted\": ", out);
    if (r->aborted)
        json_string(out, r->aborted);
    else
        fputs("null", out);
    fputs("\n}\n", out);
}
