"""Set-up of a demo run: parameters (the only bound values), helper macros and small dimension tables.

Every later statement reads the run's parameters from the temp table ``_kf_params`` and draws its
pseudo-random numbers with the macros ``_kf_u`` (uniform) and ``_kf_z`` (normal) of (seed, key, salt), so the
same seed and scale give the same rows. The dimension tables hold the rates of the simulated business:
lead sources and their channels, landing pages and countries.
"""

from __future__ import annotations

SESSIONS_PER_DAY = 290.0  # average at scale 1: ~200,000 sessions over the default 689 days

PARAMS_SQL = """
CREATE OR REPLACE TEMP TABLE _kf_params AS
SELECT $seed::BIGINT AS seed, $scale::DOUBLE AS scale, $start::DATE AS start_date, $end::DATE AS end_date,
       ($end::DATE + 1)::TIMESTAMP AS as_of,
       ($start::DATE - ((isodow($start::DATE) + 5) % 7)::INT)::DATE AS first_blast,
       (3 + floor(2 * sqrt($scale::DOUBLE)))::BIGINT AS n_bad,
       greatest(300, least(90000, round(4000 * $scale::DOUBLE)))::BIGINT AS n_companies,
       $per_day::DOUBLE AS per_day
"""

MACROS_SQL = (
    # a 64-bit hash of (seed, key, salt); hashed twice because DuckDB combines the hashes of several
    # arguments with a final XOR, which would make draws that differ only by salt dependent
    "CREATE OR REPLACE TEMP MACRO _kf_h(s, i, salt) AS hash(hash(s, i, salt))",
    # uniform in [0, 1) and standard normal (Box-Muller)
    "CREATE OR REPLACE TEMP MACRO _kf_u(s, i, salt) AS (_kf_h(s, i, salt) >> 11)::DOUBLE / 2.0 ^ 53",
    """CREATE OR REPLACE TEMP MACRO _kf_z(s, i, salt) AS
       sqrt(-2 * ln(1 - _kf_u(s, i, salt || '.a'))) * cos(2 * pi() * _kf_u(s, i, salt || '.b'))""",
    # intervals of x seconds and of x days (whole seconds)
    "CREATE OR REPLACE TEMP MACRO _kf_sec(x) AS to_seconds(floor(x)::BIGINT)",
    "CREATE OR REPLACE TEMP MACRO _kf_day(x) AS to_seconds(floor(x * 86400)::BIGINT)",
    # the email program sends a blast every other Tuesday; the campaign of blast number b
    """CREATE OR REPLACE TEMP MACRO _kf_email_campaign(first_blast, b) AS
       'email_' || ['newsletter', 'nurture', 'webinar_invite', 'product_update'][1 + (b % 4)::INT]
       || '_' || strftime(first_blast + (14 * b)::INT, '%Y%m%d')""",
)

DIMENSIONS_SQL = (
    # lead sources. Sessions: share (per mille), lead-form CVR multiplier. Ads: campaign prefix, campaigns at
    # scale 1, CTR, CPC. Leads: share on free email, median employees, share without employee count, share
    # of hot and warm intent. Deals: win probability.
    """CREATE OR REPLACE TEMP TABLE _kf_sources AS
    SELECT source, channel, ad_channel, permille::INT AS permille, cvr_mult::DOUBLE AS cvr_mult, prefix,
           greatest(1, round(n_base * sqrt(p.scale)))::INT AS n_camp, ctr::DOUBLE AS ctr, cpc::DOUBLE AS cpc,
           p_free::DOUBLE AS p_free, emp_median::DOUBLE AS emp_median, p_emp_null::DOUBLE AS p_emp_null,
           p_hot::DOUBLE AS p_hot, p_warm::DOUBLE AS p_warm, p_win::DOUBLE AS p_win
    FROM (VALUES
      ('organic_search', 'organic_search', NULL, 350, 1.0, NULL, 0, 0, 0,
       0.30, 120, 0.15, 0.19, 0.40, 0.22),
      ('google_ads', 'paid_search', 'google_ads', 180, 1.0, 'gads', 4, 0.035, 2.40,
       0.25, 150, 0.12, 0.23, 0.40, 0.24),
      ('meta_ads', 'paid_social', 'meta_ads', 63, 1.0, 'meta', 3, 0.009, 0.95,
       0.45, 40, 0.15, 0.12, 0.35, 0.15),
      ('linkedin_ads', 'paid_social', 'linkedin_ads', 28, 0.7, 'lnkd', 3, 0.0045, 6.80,
       0.08, 400, 0.08, 0.26, 0.45, 0.28),
      ('line_ads', 'paid_social', 'line_ads', 49, 1.5, 'line', 2, 0.008, 0.32,
       0.80, 12, 0.20, 0.03, 0.20, 0.08),
      ('email', 'email', NULL, 60, 1.0, NULL, 0, 0, 0, 0.25, 150, 0.12, 0.23, 0.45, 0.22),
      ('direct', 'direct', NULL, 170, 1.0, NULL, 0, 0, 0, 0.30, 100, 0.15, 0.21, 0.40, 0.25),
      ('referral', 'referral', NULL, 100, 1.0, NULL, 0, 0, 0, 0.20, 200, 0.10, 0.23, 0.40, 0.30),
      ('event', 'event', NULL, 0, 1.0, NULL, 0, 0, 0, 0.10, 300, 0.10, 0.19, 0.45, 0.20),
      ('outbound', 'outbound', NULL, 0, 1.0, NULL, 0, 0, 0, 0.02, 800, 0.05, 0.06, 0.30, 0.18)
    ) t(source, channel, ad_channel, permille, cvr_mult, prefix, n_base, ctr, cpc, p_free, emp_median,
        p_emp_null, p_hot, p_warm, p_win), _kf_params p""",
    # 1000 buckets -> session source (a session draws bucket floor(u * 1000))
    """CREATE OR REPLACE TEMP TABLE _kf_channel_buckets AS
    SELECT (lo + unnest(range(permille)))::INT AS bucket, source, channel, ad_channel, prefix, n_camp,
           cvr_mult
    FROM (SELECT *, sum(permille) OVER (ORDER BY source) - permille AS lo
          FROM _kf_sources WHERE permille > 0)""",
    # landing pages per session channel: weight (percent, 100 per channel) and lead-form CVR
    """CREATE OR REPLACE TEMP TABLE _kf_pages AS
    SELECT channel, (lo + unnest(range(weight)))::INT AS bucket, page, cvr
    FROM (SELECT channel, page, weight::INT AS weight, cvr::DOUBLE AS cvr,
                 sum(weight) OVER (PARTITION BY channel ORDER BY page) - weight AS lo
          FROM (VALUES
      ('organic_search', '/blog/lead-scoring-guide', 14, 0.008),
      ('organic_search', '/blog/b2b-funnel-metrics', 12, 0.008),
      ('organic_search', '/blog/what-is-an-mql', 10, 0.008),
      ('organic_search', '/blog/marketing-attribution', 8, 0.008),
      ('organic_search', '/blog/sales-pipeline-template', 8, 0.008), ('organic_search', '/', 14, 0.015),
      ('organic_search', '/product', 8, 0.02), ('organic_search', '/pricing', 6, 0.05),
      ('organic_search', '/resources/ebook-kpi-handbook', 8, 0.10),
      ('organic_search', '/case-studies', 5, 0.03), ('organic_search', '/docs', 5, 0.004),
      ('organic_search', '/careers', 2, 0.0),
      ('paid_search', '/lp/demo', 30, 0.06), ('paid_search', '/lp/free-trial', 20, 0.07),
      ('paid_search', '/pricing', 20, 0.05), ('paid_search', '/', 15, 0.015),
      ('paid_search', '/product', 15, 0.02),
      ('paid_social', '/lp/ebook', 35, 0.09), ('paid_social', '/lp/webinar', 25, 0.08),
      ('paid_social', '/lp/demo', 15, 0.06), ('paid_social', '/', 15, 0.015),
      ('paid_social', '/blog/b2b-funnel-metrics', 10, 0.008),
      ('email', '/webinars', 30, 0.08), ('email', '/resources/ebook-kpi-handbook', 25, 0.10),
      ('email', '/blog/lead-scoring-guide', 20, 0.008), ('email', '/pricing', 10, 0.05),
      ('email', '/product', 15, 0.02),
      ('direct', '/', 50, 0.015), ('direct', '/pricing', 15, 0.05), ('direct', '/product', 15, 0.02),
      ('direct', '/docs', 10, 0.004), ('direct', '/careers', 5, 0.0), ('direct', '/demo', 5, 0.15),
      ('referral', '/', 30, 0.015), ('referral', '/case-studies', 20, 0.03),
      ('referral', '/product', 20, 0.02), ('referral', '/pricing', 10, 0.05),
      ('referral', '/blog/what-is-an-mql', 10, 0.008), ('referral', '/integrations', 10, 0.02)
          ) t(channel, page, weight, cvr))""",
    # company countries (percent buckets) and their e-mail top-level domains
    """CREATE OR REPLACE TEMP TABLE _kf_countries AS
    SELECT (lo + unnest(range(weight)))::INT AS bucket, country, tld
    FROM (SELECT *, sum(weight) OVER (ORDER BY tld, country) - weight AS lo FROM (VALUES
      ('JP', '.co.jp', 40), ('US', '.com', 22), ('GB', '.co.uk', 7), ('DE', '.de', 7), ('FR', '.fr', 4),
      ('SG', '.com.sg', 5), ('AU', '.com.au', 4), ('IN', '.in', 4), ('KR', '.co.kr', 3), ('CA', '.ca', 2),
      (NULL, '.io', 2)) t(country, tld, weight))""",
)
