"""The raw-data contract the demo generator writes: schema ``raw`` and each table's columns and types."""

from __future__ import annotations

SCHEMA = "raw"

#: The raw-data contract: table -> ((column, DuckDB type), ...), in contract order.
RAW_TABLES: dict[str, tuple[tuple[str, str], ...]] = {
    "ad_spend": (
        ("date", "DATE"),
        ("channel", "VARCHAR"),
        ("campaign_id", "VARCHAR"),
        ("impressions", "BIGINT"),
        ("clicks", "BIGINT"),
        ("spend", "DECIMAL(12,2)"),
    ),
    "web_sessions": (
        ("session_id", "VARCHAR"),
        ("started_at", "TIMESTAMP"),
        ("visitor_id", "VARCHAR"),
        ("channel", "VARCHAR"),
        ("campaign_id", "VARCHAR"),
        ("landing_page", "VARCHAR"),
        ("pageviews", "INTEGER"),
        ("converted", "BOOLEAN"),
    ),
    "leads": (
        ("lead_id", "VARCHAR"),
        ("created_at", "TIMESTAMP"),
        ("email", "VARCHAR"),
        ("company", "VARCHAR"),
        ("country", "VARCHAR"),
        ("channel", "VARCHAR"),
        ("campaign_id", "VARCHAR"),
        ("employee_count", "INTEGER"),
        ("is_competitor", "BOOLEAN"),
    ),
    "lead_activities": (
        ("activity_id", "VARCHAR"),
        ("lead_id", "VARCHAR"),
        ("occurred_at", "TIMESTAMP"),
        ("activity_type", "VARCHAR"),
    ),
    "email_sends": (
        ("send_id", "VARCHAR"),
        ("campaign_id", "VARCHAR"),
        ("lead_id", "VARCHAR"),
        ("sent_at", "TIMESTAMP"),
        ("opened_at", "TIMESTAMP"),
        ("clicked_at", "TIMESTAMP"),
        ("unsubscribed_at", "TIMESTAMP"),
        ("bounced", "BOOLEAN"),
    ),
    "lead_status_changes": (("lead_id", "VARCHAR"), ("changed_at", "TIMESTAMP"), ("status", "VARCHAR")),
    "opportunities": (
        ("opportunity_id", "VARCHAR"),
        ("lead_id", "VARCHAR"),
        ("created_at", "TIMESTAMP"),
        ("amount", "DECIMAL(14,2)"),
        ("closed_at", "TIMESTAMP"),
        ("is_won", "BOOLEAN"),
    ),
}
