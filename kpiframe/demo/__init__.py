"""Deterministic demo data for the example project: a B2B SaaS marketing and sales funnel.

`generate_demo` writes the raw tables of the contract (schema ``raw``: ad_spend, web_sessions, leads,
lead_activities, email_sends, lead_status_changes, opportunities) into a DuckDB connection. Every row is
made inside DuckDB with SQL. Pseudo-random numbers come from DuckDB's ``hash()`` of (seed, key, salt), so
the same seed and scale give the same tables (for a given DuckDB version, whose hash function they use).

The data has weekday and month seasonality and growth, channels of different cost and lead quality (LINE
ads bring cheap leads that rarely qualify), funnel rates in the ranges practitioners quote, and a handful
of the bad rows real exports have: duplicated sessions, leads without a usable email, duplicated lead ids,
activities, sends and status changes of unknown leads, and an opportunity of an invalid lead.

Layout: `contract` (the raw tables and their columns), `params` (bound parameters, the pseudo-random helper
macros, dimension tables), `marketing` (calendar, ad_spend, web_sessions, email_sends), `crm` (leads,
lead_activities, lead_status_changes, opportunities), `bad_rows` (the planted bad rows), `generator`
(the order of the statements, and `generate_demo` that runs them), `staging` (the statements write
``raw.<table>__kf_new``; one transaction swaps all seven in, so a failed or killed run changes nothing),
and `run` (the `kpiframe demo` command's work and its error messages: the rows are written into the DuckDB
connection the warehouse's adapter offers, and the adapter loads them its own way, `Warehouse.load_tables`).
"""

from __future__ import annotations

from kpiframe.demo.contract import RAW_TABLES, SCHEMA
from kpiframe.demo.generator import generate_demo
from kpiframe.demo.params import SESSIONS_PER_DAY

__all__ = ["RAW_TABLES", "SCHEMA", "SESSIONS_PER_DAY", "generate_demo"]
