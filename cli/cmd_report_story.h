/*
 * cmd_report_story.h - postmeter report open and report message
 * (cmd_report_story.c), run from the command table (usage.c).
 */
#ifndef POSTMETER_CLI_CMD_REPORT_STORY_H
#define POSTMETER_CLI_CMD_REPORT_STORY_H

#include "config.h"

/* cmd_report_open - report open TOKEN|--message-id ID|--queue-id Q; the exit status */
int cmd_report_open(const struct config *c, int argc, char **argv);
/* cmd_report_message - report message QUEUEID|--message-id ID; the exit status */
int cmd_report_message(const struct config *c, int argc, char **argv);

#endif
