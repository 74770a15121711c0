/*
 * cmd_report_summary.h - postmeter report summary and report opens
 * (cmd_report_summary.c), run from the command table (usage.c).
 */
#ifndef POSTMETER_CLI_CMD_REPORT_SUMMARY_H
#define POSTMETER_CLI_CMD_REPORT_SUMMARY_H

#include "config.h"

/* cmd_report_summary - report summary: argv[0] "report", argv[1] "summary"; the exit status */
int cmd_report_summary(const struct config *c, int argc, char **argv);
/* cmd_report_opens - report opens: argv[0] "report", argv[1] "opens"; the exit status */
int cmd_report_opens(const struct config *c, int argc, char **argv);

#endif
