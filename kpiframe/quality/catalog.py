"""The Great Expectations vocabulary kpiframe accepts, known without importing GX.

Parsing runs on every `kpiframe compile` and must stay fast, so it cannot import great_expectations
(seconds) to ask which expectations exist. This table was generated from GX 1.24's registry (every
registered `expect_*` type and the pydantic fields of its class, by their aliases);
tests/quality/test_gx_run.py checks it against the installed GX so an upgrade that adds, renames or
drops a name or a field fails a test instead of silently diverging.

Left out: `expect_query_results_to_match_comparison` (needs a second data source) and GX's own
`unexpected_rows_expectation` (arbitrary SQL; our KPI checks use it underneath).
"""

from __future__ import annotations

_COND = ("row_condition", "condition_parser")
_MAP = ("mostly", *_COND)
_RANGE = ("min_value", "max_value", "strict_min", "strict_max")

# name -> (required kwargs, optional kwargs)
GX_EXPECTATIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "expect_column_distinct_values_to_be_in_set": (("column", "value_set"), (*_COND,)),
    "expect_column_distinct_values_to_contain_set": (("column", "value_set"), (*_COND,)),
    "expect_column_distinct_values_to_equal_set": (("column", "value_set"), (*_COND,)),
    "expect_column_kl_divergence_to_be_less_than": (
        ("column",),
        (
            "partition_object",
            "threshold",
            "internal_weight_holdout",
            "tail_weight_holdout",
            "bucketize_data",
            "min_value",
            "max_value",
            *_COND,
        ),
    ),
    "expect_column_max_to_be_between": (("column",), (*_COND, *_RANGE)),
    "expect_column_mean_to_be_between": (("column",), (*_COND, *_RANGE)),
    "expect_column_median_to_be_between": (("column",), (*_COND, *_RANGE)),
    "expect_column_min_to_be_between": (("column",), (*_COND, *_RANGE)),
    "expect_column_most_common_value_to_be_in_set": (("column", "value_set"), ("ties_okay", *_COND)),
    "expect_column_pair_values_a_to_be_greater_than_b": (
        ("column_A", "column_B"),
        ("or_equal", "ignore_row_if", *_MAP),
    ),
    "expect_column_pair_values_to_be_equal": (("column_A", "column_B"), ("ignore_row_if", *_MAP)),
    "expect_column_pair_values_to_be_in_set": (("column_A", "column_B", "value_pairs_set"), ("ignore_row_if", *_MAP)),
    "expect_column_proportion_of_non_null_values_to_be_between": (("column",), (*_COND, *_RANGE)),
    "expect_column_proportion_of_unique_values_to_be_between": (("column",), (*_COND, *_RANGE)),
    "expect_column_quantile_values_to_be_between": (("column", "quantile_ranges"), ("allow_relative_error", *_COND)),
    "expect_column_stdev_to_be_between": (("column",), (*_COND, *_RANGE)),
    "expect_column_sum_to_be_between": (("column",), (*_COND, *_RANGE)),
    "expect_column_to_exist": (("column",), ("column_index",)),
    "expect_column_type_to_be": (("column", "type_"), ()),
    "expect_column_unique_value_count_to_be_between": (("column",), (*_COND, *_RANGE)),
    "expect_column_value_lengths_to_be_between": (("column",), (*_MAP, *_RANGE)),
    "expect_column_value_lengths_to_equal": (("column", "value"), (*_MAP,)),
    "expect_column_value_z_scores_to_be_less_than": (("column", "threshold", "double_sided"), (*_MAP,)),
    "expect_column_values_to_be_between": (("column",), (*_MAP, *_RANGE)),
    "expect_column_values_to_be_dateutil_parseable": (("column",), (*_MAP,)),
    "expect_column_values_to_be_decreasing": (("column",), ("strictly", *_MAP)),
    "expect_column_values_to_be_in_set": (("column", "value_set"), (*_MAP,)),
    "expect_column_values_to_be_in_type_list": (("column",), ("type_list", *_MAP)),
    "expect_column_values_to_be_increasing": (("column",), ("strictly", *_MAP)),
    "expect_column_values_to_be_json_parseable": (("column",), (*_MAP,)),
    "expect_column_values_to_be_null": (("column",), (*_MAP,)),
    "expect_column_values_to_be_of_type": (("column", "type_"), (*_MAP,)),
    "expect_column_values_to_be_unique": (("column",), (*_MAP,)),
    "expect_column_values_to_match_json_schema": (("column", "json_schema"), (*_MAP,)),
    "expect_column_values_to_match_like_pattern": (("column", "like_pattern"), ("escape", *_MAP)),
    "expect_column_values_to_match_like_pattern_list": (("column", "like_pattern_list"), ("match_on", "escape", *_MAP)),
    "expect_column_values_to_match_regex": (("column",), ("regex", *_MAP)),
    "expect_column_values_to_match_regex_list": (("column", "regex_list"), ("match_on", *_MAP)),
    "expect_column_values_to_match_strftime_format": (("column", "strftime_format"), (*_MAP,)),
    "expect_column_values_to_not_be_in_set": (("column", "value_set"), (*_MAP,)),
    "expect_column_values_to_not_be_null": (("column",), (*_MAP,)),
    "expect_column_values_to_not_be_outliers": (("column",), ("method", "multiplier", *_MAP)),
    "expect_column_values_to_not_match_like_pattern": (("column", "like_pattern"), ("escape", *_MAP)),
    "expect_column_values_to_not_match_like_pattern_list": (("column", "like_pattern_list"), ("escape", *_MAP)),
    "expect_column_values_to_not_match_regex": (("column", "regex"), (*_MAP,)),
    "expect_column_values_to_not_match_regex_list": (("column", "regex_list"), (*_MAP,)),
    "expect_compound_columns_to_be_unique": (("column_list",), ("ignore_row_if", *_MAP)),
    "expect_multicolumn_sum_to_equal": (("column_list", "sum_total"), ("ignore_row_if", *_MAP)),
    "expect_multicolumn_values_to_be_equal": (("column_list",), ("ignore_row_if", *_MAP)),
    "expect_select_column_values_to_be_unique_within_record": (("column_list",), ("ignore_row_if", *_MAP)),
    "expect_table_column_count_to_be_between": ((), ("min_value", "max_value")),
    "expect_table_column_count_to_equal": (("value",), ()),
    "expect_table_columns_to_match_ordered_list": ((), ("column_list",)),
    "expect_table_columns_to_match_set": ((), ("column_set", "exact_match")),
    "expect_table_row_count_to_be_between": ((), (*_COND, *_RANGE)),
    "expect_table_row_count_to_equal": (("value",), (*_COND,)),
    "expect_table_row_count_to_equal_other_table": (("other_table_name",), (*_COND,)),
}


def allowed_kwargs(kind: str) -> tuple[str, ...]:
    required, optional = GX_EXPECTATIONS[kind]
    return required + optional
