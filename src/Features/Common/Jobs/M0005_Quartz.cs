using Freeside.Features.Common.Persistence;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

namespace Freeside.Features.Common.Jobs;

/// <summary>
/// Quartz 4.7's ADO job store (prefix qrtz_), so the scheduler runs clustered across replicas.
/// The layout is the one Quartz documents for PostgreSQL at 4.7; the store validates it at start-up
/// (SchemaProvisioning.Validate), so a column missing here stops the scheduler with its name instead of
/// failing later. Times are ticks in bigint, as Quartz stores them. The execution/misfire history and
/// job-status tables are left out: they serve only UseExecutionHistory(), which Freeside does not use.
/// These are scheduler tables, not tenant tables: no community_id and no row-level security; the app
/// role gets row access (DML) and nothing more.
/// </summary>
[DbContext(typeof(FreesideDb))]
[Migration("0005_quartz")]
public sealed class M0005_Quartz : Migration
{
    protected override void Up(MigrationBuilder migrationBuilder)
    {
        migrationBuilder.Sql("""
            CREATE TABLE qrtz_job_details (
                sched_name text NOT NULL,
                job_name text NOT NULL,
                job_group text NOT NULL,
                description text,
                job_class_name text NOT NULL,
                is_durable boolean NOT NULL,
                is_nonconcurrent boolean NOT NULL,
                is_update_data boolean NOT NULL,
                requests_recovery boolean NOT NULL,
                job_data bytea,
                PRIMARY KEY (sched_name, job_name, job_group)
            );

            CREATE TABLE qrtz_triggers (
                sched_name text NOT NULL,
                trigger_name text NOT NULL,
                trigger_group text NOT NULL,
                job_name text NOT NULL,
                job_group text NOT NULL,
                description text,
                next_fire_time bigint,
                prev_fire_time bigint,
                priority integer,
                trigger_state text NOT NULL,
                trigger_type text NOT NULL,
                start_time bigint NOT NULL,
                end_time bigint,
                calendar_name text,
                misfire_instr smallint,
                misfire_orig_fire_time bigint,
                execution_group varchar(200),
                preferred_node varchar(200),
                preferred_node_auto boolean NOT NULL DEFAULT false,
                retry_policy varchar(250),
                retry_attempt integer,
                continues_trigger_name text,
                continues_trigger_group text,
                continuation_condition integer,
                overlap_policy integer,
                pause_reason varchar(250),
                paused_by varchar(200),
                paused_at bigint,
                misfire_threshold bigint,
                fixed_delay boolean,
                job_data bytea,
                PRIMARY KEY (sched_name, trigger_name, trigger_group),
                FOREIGN KEY (sched_name, job_name, job_group) REFERENCES qrtz_job_details (sched_name, job_name, job_group)
            );

            -- One row per trigger of each schedule kind, removed with its trigger.
            CREATE TABLE qrtz_simple_triggers (
                sched_name text NOT NULL,
                trigger_name text NOT NULL,
                trigger_group text NOT NULL,
                repeat_count bigint NOT NULL,
                repeat_interval bigint NOT NULL,
                times_triggered bigint NOT NULL,
                PRIMARY KEY (sched_name, trigger_name, trigger_group),
                FOREIGN KEY (sched_name, trigger_name, trigger_group) REFERENCES qrtz_triggers (sched_name, trigger_name, trigger_group) ON DELETE CASCADE
            );

            CREATE TABLE qrtz_cron_triggers (
                sched_name text NOT NULL,
                trigger_name text NOT NULL,
                trigger_group text NOT NULL,
                cron_expression text NOT NULL,
                time_zone_id text,
                PRIMARY KEY (sched_name, trigger_name, trigger_group),
                FOREIGN KEY (sched_name, trigger_name, trigger_group) REFERENCES qrtz_triggers (sched_name, trigger_name, trigger_group) ON DELETE CASCADE
            );

            CREATE TABLE qrtz_simprop_triggers (
                sched_name text NOT NULL,
                trigger_name text NOT NULL,
                trigger_group text NOT NULL,
                str_prop_1 text,
                str_prop_2 text,
                str_prop_3 text,
                int_prop_1 integer,
                int_prop_2 integer,
                long_prop_1 bigint,
                long_prop_2 bigint,
                dec_prop_1 numeric,
                dec_prop_2 numeric,
                bool_prop_1 boolean,
                bool_prop_2 boolean,
                time_zone_id text,
                PRIMARY KEY (sched_name, trigger_name, trigger_group),
                FOREIGN KEY (sched_name, trigger_name, trigger_group) REFERENCES qrtz_triggers (sched_name, trigger_name, trigger_group) ON DELETE CASCADE
            );

            CREATE TABLE qrtz_blob_triggers (
                sched_name text NOT NULL,
                trigger_name text NOT NULL,
                trigger_group text NOT NULL,
                blob_data bytea,
                PRIMARY KEY (sched_name, trigger_name, trigger_group),
                FOREIGN KEY (sched_name, trigger_name, trigger_group) REFERENCES qrtz_triggers (sched_name, trigger_name, trigger_group) ON DELETE CASCADE
            );

            CREATE TABLE qrtz_calendars (
                sched_name text NOT NULL,
                calendar_name text NOT NULL,
                calendar bytea NOT NULL,
                PRIMARY KEY (sched_name, calendar_name)
            );

            CREATE TABLE qrtz_paused_trigger_grps (
                sched_name text NOT NULL,
                trigger_group text NOT NULL,
                pause_reason varchar(250),
                paused_by varchar(200),
                paused_at bigint,
                PRIMARY KEY (sched_name, trigger_group)
            );

            CREATE TABLE qrtz_paused_job_grps (
                sched_name text NOT NULL,
                job_group text NOT NULL,
                pause_reason varchar(250),
                paused_by varchar(200),
                paused_at bigint,
                PRIMARY KEY (sched_name, job_group)
            );

            -- A firing in progress, per node: what cluster recovery hands to a live node when its owner dies.
            CREATE TABLE qrtz_fired_triggers (
                sched_name text NOT NULL,
                entry_id text NOT NULL,
                trigger_name text NOT NULL,
                trigger_group text NOT NULL,
                instance_name text NOT NULL,
                fired_time bigint NOT NULL,
                sched_time bigint NOT NULL,
                priority integer NOT NULL,
                state text NOT NULL,
                job_name text,
                job_group text,
                is_nonconcurrent boolean NOT NULL,
                requests_recovery boolean,
                execution_group varchar(200),
                progress integer,
                progress_message varchar(250),
                interrupt_requested_time bigint,
                PRIMARY KEY (sched_name, entry_id)
            );

            -- The cluster's check-ins: a node whose last one is older than its interval plus the threshold is dead.
            CREATE TABLE qrtz_scheduler_state (
                sched_name text NOT NULL,
                instance_name text NOT NULL,
                last_checkin_time bigint NOT NULL,
                checkin_interval bigint NOT NULL,
                quartz_version varchar(20),
                PRIMARY KEY (sched_name, instance_name)
            );

            -- The rows the nodes lock (SELECT … FOR UPDATE) so that one of them at a time acquires triggers.
            CREATE TABLE qrtz_locks (
                sched_name text NOT NULL,
                lock_name text NOT NULL,
                PRIMARY KEY (sched_name, lock_name)
            );

            CREATE INDEX idx_qrtz_j_g_n ON qrtz_job_details (sched_name, job_group, job_name);
            CREATE INDEX idx_qrtz_t_j ON qrtz_triggers (sched_name, job_name, job_group);
            CREATE INDEX idx_qrtz_t_g_n ON qrtz_triggers (sched_name, trigger_group, trigger_name);
            CREATE INDEX idx_qrtz_t_c ON qrtz_triggers (sched_name, calendar_name);
            CREATE INDEX idx_qrtz_t_nft_st ON qrtz_triggers (sched_name, trigger_state, next_fire_time, priority DESC, misfire_instr);
            CREATE INDEX idx_qrtz_ft_inst_job_req_rcvry ON qrtz_fired_triggers (sched_name, instance_name, requests_recovery);
            CREATE INDEX idx_qrtz_ft_j_g ON qrtz_fired_triggers (sched_name, job_name, job_group);
            CREATE INDEX idx_qrtz_ft_t_g ON qrtz_fired_triggers (sched_name, trigger_name, trigger_group);

            GRANT SELECT, INSERT, UPDATE, DELETE ON
                qrtz_job_details, qrtz_triggers, qrtz_simple_triggers, qrtz_cron_triggers, qrtz_simprop_triggers,
                qrtz_blob_triggers, qrtz_calendars, qrtz_paused_trigger_grps, qrtz_paused_job_grps,
                qrtz_fired_triggers, qrtz_scheduler_state, qrtz_locks
                TO freeside_app;
            """);
    }
}
