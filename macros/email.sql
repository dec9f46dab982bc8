{#- Macros of the example project: SQL written once and called from models as {{ name(args) }}. -#}

{#- The domain of an email address: the part after the last '@' (the whole value when it has no '@'),
    lower-cased and trimmed of spaces. split_part with index -1 is the last part in DuckDB,
    PostgreSQL 14+, Snowflake and Spark. -#}
{% macro email_domain(column) -%}
lower(trim(both ' ' from split_part({{ column }}, '@', -1)))
{%- endmacro %}
