/*
 * complete.h - the lines of "postmeter help --complete" for the bash
 * completion (complete.c says what they hold).
 */
#ifndef POSTMETER_CLI_COMPLETE_H
#define POSTMETER_CLI_COMPLETE_H

/*
 * complete_print - print "NAME<TAB>SUB<TAB>OPTIONS" for one command of
 * the table (sub NULL: "-"), its options and their values read from its
 * synopsis and options text (options may be NULL)
 */
void complete_print(const char *name, const char *sub, const char *synopsis, const char *options);

#endif
