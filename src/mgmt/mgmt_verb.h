/* SPDX-License-Identifier: MIT */
/*
 * Matching typed words against a verb ("config set": words separated by
 * single spaces). The relay's `help VERB...` and hdcli's completion and
 * '?' must agree on what a prefix is, so both use this.
 */
#ifndef HD_MGMT_VERB_H
#define HD_MGMT_VERB_H

/*
 * Whether verb begins with the words argv[0..argc), each one a whole word
 * of it: "config" begins "config set", "conf" does not, and no words begin
 * every verb. Returns the rest of the verb after those words ("set"; ""
 * when they are the whole verb), or NULL when it does not begin with them.
 */
const char *mgmt_verb_rest(const char *verb, int argc, char *const *argv);

#endif
