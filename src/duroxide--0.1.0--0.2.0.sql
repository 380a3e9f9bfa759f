/*
 * duroxide--0.1.0--0.2.0.sql
 *		Upgrade script from 0.1.0 to 0.2.0 (ALTER EXTENSION duroxide UPDATE).
 *
 * Every change to src/duroxide--0.2.0.sql has its counterpart here, in the
 * same order, so that a fresh install of 0.2.0 and 0.1.0 plus this script
 * give the same catalog.  Running instances, history and queues are kept.
 */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION duroxide UPDATE TO '0.2.0'" to load this file. \quit
