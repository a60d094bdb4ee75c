# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_pwresetd_global_optspecs
    string join \n config= log-format= h/help V/version
end

function __fish_pwresetd_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_pwresetd_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_pwresetd_using_subcommand
    set -l cmd (__fish_pwresetd_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c pwresetd -n "__fish_pwresetd_needs_command" -l config -d 'Configuration file' -r -F
complete -c pwresetd -n "__fish_pwresetd_needs_command" -l log-format -d 'Log format on stderr' -r -f -a "text\t''
json\t''"
complete -c pwresetd -n "__fish_pwresetd_needs_command" -s h -l help -d 'Print help'
complete -c pwresetd -n "__fish_pwresetd_needs_command" -s V -l version -d 'Print version'
complete -c pwresetd -n "__fish_pwresetd_needs_command" -f -a "check-config" -d 'Preflight: check the configuration, the files `serve` loads, the directory (bind, the whole scope, policies) and the mail server; one line per check, or `--json`'
complete -c pwresetd -n "__fish_pwresetd_needs_command" -f -a "serve" -d 'Run the service: campaign worker, mails, portal, metrics (under systemd: Type=notify)'
complete -c pwresetd -n "__fish_pwresetd_needs_command" -f -a "campaign" -d 'Plan, start, inspect and revert campaigns'
complete -c pwresetd -n "__fish_pwresetd_needs_command" -f -a "account" -d 'Show what the directory and the store say about one account'
complete -c pwresetd -n "__fish_pwresetd_needs_command" -f -a "mail" -d 'Send a sample mail to check the mail settings and the templates'
complete -c pwresetd -n "__fish_pwresetd_needs_command" -f -a "policy" -d 'Check a candidate password against the policy (read from stdin), or show the rules'
complete -c pwresetd -n "__fish_pwresetd_needs_command" -f -a "helpdesk" -d 'The helpdesk API from an operator\'s workstation; `helpdesk token create` for API tokens'
complete -c pwresetd -n "__fish_pwresetd_needs_command" -f -a "audit" -d 'Export the hash-chained audit trail, or verify a chain (an export, or the store)'
complete -c pwresetd -n "__fish_pwresetd_needs_command" -f -a "breach-index" -d 'Build the breached-password index from a Have I Been Pwned SHA-1 file'
complete -c pwresetd -n "__fish_pwresetd_needs_command" -f -a "store" -d 'Move a SQLite store into PostgreSQL (`store migrate`)'
complete -c pwresetd -n "__fish_pwresetd_using_subcommand check-config" -l config -d 'Configuration file' -r -F
complete -c pwresetd -n "__fish_pwresetd_using_subcommand check-config" -l log-format -d 'Log format on stderr' -r -f -a "text\t''
json\t''"
complete -c pwresetd -n "__fish_pwresetd_using_subcommand check-config" -l json -d 'Print the checks as a JSON array of {check, status, message, fix}'
complete -c pwresetd -n "__fish_pwresetd_using_subcommand check-config" -s h -l help -d 'Print help'
complete -c pwresetd -n "__fish_pwresetd_using_subcommand serve" -l config -d 'Configuration file' -r -F
complete -c pwresetd -n "__fish_pwresetd_using_subcommand serve" -l log-format -d 'Log format on stderr' -r -f -a "text\t''
json\t''"
complete -c pwresetd -n "__fish_pwresetd_using_subcommand serve" -s h -l help -d 'Print help'
complete -c pwresetd -n "__fish_pwresetd_using_subcommand campaign; and not __fish_seen_subcommand_from plan start status notify list revert set deadline" -l config -d 'Configuration file' -r -F
complete -c pwresetd -n "__fish_pwresetd_using_subcommand campaign; and not __fish_seen_subcommand_from plan start status notify list revert set deadline" -l log-format -d 'Log format on stderr' -r -f -a "text\t''
json\t''"
complete -c pwresetd -n "__fish_pwresetd_using_subcommand campaign; and not __fish_seen_subcommand_from plan start status notify list revert set deadline" -s h -l help -d 'Print help'
complete -c pwresetd -n "__fish_pwresetd_using_subcommand campaign; and not __fish_seen_subcommand_from plan start status notify list revert set deadline" -f -a "plan" -d 'Dry run: count and sample the accounts in scope; writes nothing anywhere'
complete -c pwresetd -n "__fish_pwresetd_using_subcommand campaign; and not __fish_seen_subcommand_from plan start status notify list revert set deadline" -f -a "start" -d 'Record a campaign and mark every account in scope (resumes a campaign of the same name)'
complete -c pwresetd -n "__fish_pwresetd_using_subcommand campaign; and not __fish_seen_subcommand_from plan start status notify list revert set deadline" -f -a "status" -d 'Counts per account state'
complete -c pwresetd -n "__fish_pwresetd_using_subcommand campaign; and not __fish_seen_subcommand_from plan start status notify list revert set deadline" -f -a "notify" -d 'Send the notices and reminders due now, then exit (the daemon does this on its own; this suits a timer or a one-off run)'
complete -c pwresetd -n "__fish_pwresetd_using_subcommand campaign; and not __fish_seen_subcommand_from plan start status notify list revert set deadline" -f -a "list" -d 'All campaigns in the store'
complete -c pwresetd -n "__fish_pwresetd_using_subcommand campaign; and not __fish_seen_subcommand_from plan start status notify list revert set deadline" -f -a "revert" -d 'Clear the flag on accounts this campaign marked (not those flagged before it, nor those that completed). Resumable'
complete -c pwresetd -n "__fish_pwresetd_using_subcommand campaign; and not __fish_seen_subcommand_from plan start status notify list revert set deadline" -f -a "set" -d 'Move the campaign\'s deadline, change what happens at it (audited)'
complete -c pwresetd -n "__fish_pwresetd_using_subcommand campaign; and not __fish_seen_subcommand_from plan start status notify list revert set deadline" -f -a "deadline" -d 'The deadline\'s action: `--plan` lists who it would lock now and why (writes nothing; with `--now`, who `--now` would lock); `--now` applies it to every account still marked, before the deadline (e.g. evidence of active misuse)'
complete -c pwresetd -n "__fish_pwresetd_using_subcommand campaign; and __fish_seen_subcommand_from plan" -l config -d 'Configuration file' -r -F
complete -c pwresetd -n "__fish_pwresetd_using_subcommand campaign; and __fish_seen_subcommand_from plan" -l log-format -d 'Log format on stderr' -r -f -a "text\t''
json\t''"
complete -c pwresetd -n "__fish_pwresetd_using_subcommand campaign; and __fish_seen_subcommand_from plan" -l json
complete -c pwresetd -n "__fish_pwresetd_using_subcommand campaign; and __fish_seen_subcommand_from plan" -s h -l help -d 'Print help'
complete -c pwresetd -n "__fish_pwresetd_using_subcommand campaign; and __fish_seen_subcommand_from start" -l name -r
complete -c pwresetd -n "__fish_pwresetd_using_subcommand campaign; and __fish_seen_subcommand_from start" -l reason -d 'Why users must change their password (shown in notices). Required for a new campaign' -r
complete -c pwresetd -n "__fish_pwresetd_using_subcommand campaign; and __fish_seen_subcommand_from start" -l deadline -d 'When every account must have changed, RFC 3339 (e.g. 2026-12-04T17:00:00Z)' -r
complete -c pwresetd -n "__fish_pwresetd_using_subcommand campaign; and __fish_seen_subcommand_from start" -l at-deadline -d 'At deadline + grace: none (the default), lock or disable every account still marked' -r -f -a "none\t''
lock\t''
disable\t''"
complete -c pwresetd -n "__fish_pwresetd_using_subcommand campaign; and __fish_seen_subcommand_from start" -l grace -d 'How long after the deadline the action waits (e.g. 2h; 0s applies it at the deadline)' -r
complete -c pwresetd -n "__fish_pwresetd_using_subcommand campaign; and __fish_seen_subcommand_from start" -l config -d 'Configuration file' -r -F
complete -c pwresetd -n "__fish_pwresetd_using_subcommand campaign; and __fish_seen_subcommand_from start" -l log-format -d 'Log format on stderr' -r -f -a "text\t''
json\t''"
complete -c pwresetd -n "__fish_pwresetd_using_subcommand campaign; and __fish_seen_subcommand_from start" -l yes -d 'Do not ask for confirmation'
complete -c pwresetd -n "__fish_pwresetd_using_subcommand campaign; and __fish_seen_subcommand_from start" -s h -l help -d 'Print help'
complete -c pwresetd -n "__fish_pwresetd_using_subcommand campaign; and __fish_seen_subcommand_from status" -l config -d 'Configuration file' -r -F
complete -c pwresetd -n "__fish_pwresetd_using_subcommand campaign; and __fish_seen_subcommand_from status" -l log-format -d 'Log format on stderr' -r -f -a "text\t''
json\t''"
complete -c pwresetd -n "__fish_pwresetd_using_subcommand campaign; and __fish_seen_subcommand_from status" -l json
complete -c pwresetd -n "__fish_pwresetd_using_subcommand campaign; and __fish_seen_subcommand_from status" -s h -l help -d 'Print help'
complete -c pwresetd -n "__fish_pwresetd_using_subcommand campaign; and __fish_seen_subcommand_from notify" -l config -d 'Configuration file' -r -F
complete -c pwresetd -n "__fish_pwresetd_using_subcommand campaign; and __fish_seen_subcommand_from notify" -l log-format -d 'Log format on stderr' -r -f -a "text\t''
json\t''"
complete -c pwresetd -n "__fish_pwresetd_using_subcommand campaign; and __fish_seen_subcommand_from notify" -s h -l help -d 'Print help'
complete -c pwresetd -n "__fish_pwresetd_using_subcommand campaign; and __fish_seen_subcommand_from list" -l config -d 'Configuration file' -r -F
complete -c pwresetd -n "__fish_pwresetd_using_subcommand campaign; and __fish_seen_subcommand_from list" -l log-format -d 'Log format on stderr' -r -f -a "text\t''
json\t''"
complete -c pwresetd -n "__fish_pwresetd_using_subcommand campaign; and __fish_seen_subcommand_from list" -l json
complete -c pwresetd -n "__fish_pwresetd_using_subcommand campaign; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c pwresetd -n "__fish_pwresetd_using_subcommand campaign; and __fish_seen_subcommand_from revert" -l config -d 'Configuration file' -r -F
complete -c pwresetd -n "__fish_pwresetd_using_subcommand campaign; and __fish_seen_subcommand_from revert" -l log-format -d 'Log format on stderr' -r -f -a "text\t''
json\t''"
complete -c pwresetd -n "__fish_pwresetd_using_subcommand campaign; and __fish_seen_subcommand_from revert" -l yes -d 'Do not ask for confirmation'
complete -c pwresetd -n "__fish_pwresetd_using_subcommand campaign; and __fish_seen_subcommand_from revert" -s h -l help -d 'Print help'
complete -c pwresetd -n "__fish_pwresetd_using_subcommand campaign; and __fish_seen_subcommand_from set" -l deadline -d 'The new deadline, RFC 3339 (e.g. 2026-12-11T17:00:00Z); in the future. Accounts whose own (extended) deadline is later keep it' -r
complete -c pwresetd -n "__fish_pwresetd_using_subcommand campaign; and __fish_seen_subcommand_from set" -l at-deadline -d 'At deadline + grace: none (the default), lock or disable every account still marked' -r -f -a "none\t''
lock\t''
disable\t''"
complete -c pwresetd -n "__fish_pwresetd_using_subcommand campaign; and __fish_seen_subcommand_from set" -l grace -d 'How long after the deadline the action waits (e.g. 2h; 0s applies it at the deadline)' -r
complete -c pwresetd -n "__fish_pwresetd_using_subcommand campaign; and __fish_seen_subcommand_from set" -l config -d 'Configuration file' -r -F
complete -c pwresetd -n "__fish_pwresetd_using_subcommand campaign; and __fish_seen_subcommand_from set" -l log-format -d 'Log format on stderr' -r -f -a "text\t''
json\t''"
complete -c pwresetd -n "__fish_pwresetd_using_subcommand campaign; and __fish_seen_subcommand_from set" -s h -l help -d 'Print help'
complete -c pwresetd -n "__fish_pwresetd_using_subcommand campaign; and __fish_seen_subcommand_from deadline" -l config -d 'Configuration file' -r -F
complete -c pwresetd -n "__fish_pwresetd_using_subcommand campaign; and __fish_seen_subcommand_from deadline" -l log-format -d 'Log format on stderr' -r -f -a "text\t''
json\t''"
complete -c pwresetd -n "__fish_pwresetd_using_subcommand campaign; and __fish_seen_subcommand_from deadline" -l plan
complete -c pwresetd -n "__fish_pwresetd_using_subcommand campaign; and __fish_seen_subcommand_from deadline" -l json
complete -c pwresetd -n "__fish_pwresetd_using_subcommand campaign; and __fish_seen_subcommand_from deadline" -l now
complete -c pwresetd -n "__fish_pwresetd_using_subcommand campaign; and __fish_seen_subcommand_from deadline" -l yes -d 'Do not ask for confirmation'
complete -c pwresetd -n "__fish_pwresetd_using_subcommand campaign; and __fish_seen_subcommand_from deadline" -s h -l help -d 'Print help'
complete -c pwresetd -n "__fish_pwresetd_using_subcommand account" -l config -d 'Configuration file' -r -F
complete -c pwresetd -n "__fish_pwresetd_using_subcommand account" -l log-format -d 'Log format on stderr' -r -f -a "text\t''
json\t''"
complete -c pwresetd -n "__fish_pwresetd_using_subcommand account" -l json
complete -c pwresetd -n "__fish_pwresetd_using_subcommand account" -s h -l help -d 'Print help'
complete -c pwresetd -n "__fish_pwresetd_using_subcommand mail; and not __fish_seen_subcommand_from test" -l config -d 'Configuration file' -r -F
complete -c pwresetd -n "__fish_pwresetd_using_subcommand mail; and not __fish_seen_subcommand_from test" -l log-format -d 'Log format on stderr' -r -f -a "text\t''
json\t''"
complete -c pwresetd -n "__fish_pwresetd_using_subcommand mail; and not __fish_seen_subcommand_from test" -s h -l help -d 'Print help'
complete -c pwresetd -n "__fish_pwresetd_using_subcommand mail; and not __fish_seen_subcommand_from test" -f -a "test" -d 'Render one template with sample values and send it'
complete -c pwresetd -n "__fish_pwresetd_using_subcommand mail; and __fish_seen_subcommand_from test" -l to -d 'Where to send the sample mail' -r
complete -c pwresetd -n "__fish_pwresetd_using_subcommand mail; and __fish_seen_subcommand_from test" -l template -d 'Which mail to send' -r -f -a "notice\t''
reminder\t''
changed\t''
locked\t''"
complete -c pwresetd -n "__fish_pwresetd_using_subcommand mail; and __fish_seen_subcommand_from test" -l language -d 'Language, as an account\'s preferredLanguage would say it (e.g. fr or fr-CA); default: mail.default_language' -r
complete -c pwresetd -n "__fish_pwresetd_using_subcommand mail; and __fish_seen_subcommand_from test" -l config -d 'Configuration file' -r -F
complete -c pwresetd -n "__fish_pwresetd_using_subcommand mail; and __fish_seen_subcommand_from test" -l log-format -d 'Log format on stderr' -r -f -a "text\t''
json\t''"
complete -c pwresetd -n "__fish_pwresetd_using_subcommand mail; and __fish_seen_subcommand_from test" -s h -l help -d 'Print help'
complete -c pwresetd -n "__fish_pwresetd_using_subcommand policy; and not __fish_seen_subcommand_from check show" -l config -d 'Configuration file' -r -F
complete -c pwresetd -n "__fish_pwresetd_using_subcommand policy; and not __fish_seen_subcommand_from check show" -l log-format -d 'Log format on stderr' -r -f -a "text\t''
json\t''"
complete -c pwresetd -n "__fish_pwresetd_using_subcommand policy; and not __fish_seen_subcommand_from check show" -s h -l help -d 'Print help'
complete -c pwresetd -n "__fish_pwresetd_using_subcommand policy; and not __fish_seen_subcommand_from check show" -f -a "check" -d 'Check a password, read from the first line of standard input, against the policy'
complete -c pwresetd -n "__fish_pwresetd_using_subcommand policy; and not __fish_seen_subcommand_from check show" -f -a "show" -d 'Show the rules in force, as a form would before the user types'
complete -c pwresetd -n "__fish_pwresetd_using_subcommand policy; and __fish_seen_subcommand_from check" -l login -d 'The account\'s login (also looked up in the directory when one is configured)' -r
complete -c pwresetd -n "__fish_pwresetd_using_subcommand policy; and __fish_seen_subcommand_from check" -l given-name -d 'Given name; overrides the directory\'s' -r
complete -c pwresetd -n "__fish_pwresetd_using_subcommand policy; and __fish_seen_subcommand_from check" -l surname -d 'Surname; overrides the directory\'s' -r
complete -c pwresetd -n "__fish_pwresetd_using_subcommand policy; and __fish_seen_subcommand_from check" -l display-name -d 'Display name; overrides the directory\'s' -r
complete -c pwresetd -n "__fish_pwresetd_using_subcommand policy; and __fish_seen_subcommand_from check" -l mail -d 'Mail address (repeatable); replaces the directory\'s' -r
complete -c pwresetd -n "__fish_pwresetd_using_subcommand policy; and __fish_seen_subcommand_from check" -l config -d 'Configuration file' -r -F
complete -c pwresetd -n "__fish_pwresetd_using_subcommand policy; and __fish_seen_subcommand_from check" -l log-format -d 'Log format on stderr' -r -f -a "text\t''
json\t''"
complete -c pwresetd -n "__fish_pwresetd_using_subcommand policy; and __fish_seen_subcommand_from check" -l with-current -d 'Read the current password from the second line of standard input and refuse it'
complete -c pwresetd -n "__fish_pwresetd_using_subcommand policy; and __fish_seen_subcommand_from check" -l json -d 'Print the verdict as JSON: {"accepted": bool, "violations": [{"rule", "message"}]}'
complete -c pwresetd -n "__fish_pwresetd_using_subcommand policy; and __fish_seen_subcommand_from check" -s h -l help -d 'Print help'
complete -c pwresetd -n "__fish_pwresetd_using_subcommand policy; and __fish_seen_subcommand_from show" -l login -d 'Show the rules for this account (its own directory policy, when one applies) instead of the directory\'s default policy' -r
complete -c pwresetd -n "__fish_pwresetd_using_subcommand policy; and __fish_seen_subcommand_from show" -l config -d 'Configuration file' -r -F
complete -c pwresetd -n "__fish_pwresetd_using_subcommand policy; and __fish_seen_subcommand_from show" -l log-format -d 'Log format on stderr' -r -f -a "text\t''
json\t''"
complete -c pwresetd -n "__fish_pwresetd_using_subcommand policy; and __fish_seen_subcommand_from show" -l json -d 'Print the rules as JSON: [{"rule", "text", "source"}]'
complete -c pwresetd -n "__fish_pwresetd_using_subcommand policy; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help'
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and not __fish_seen_subcommand_from account search check-mail resend exempt extend mark unlock token" -l url -d 'The helpdesk\'s base URL: the admin listener (http://host:9187) or the proxy in front of it' -r
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and not __fish_seen_subcommand_from account search check-mail resend exempt extend mark unlock token" -l token-file -d 'A file holding the API token (NAME.SECRET) on its first line' -r -F
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and not __fish_seen_subcommand_from account search check-mail resend exempt extend mark unlock token" -l ca-file -d 'CA certificates (PEM) to trust for an https URL, instead of the system\'s' -r -F
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and not __fish_seen_subcommand_from account search check-mail resend exempt extend mark unlock token" -l config -d 'Configuration file' -r -F
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and not __fish_seen_subcommand_from account search check-mail resend exempt extend mark unlock token" -l log-format -d 'Log format on stderr' -r -f -a "text\t''
json\t''"
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and not __fish_seen_subcommand_from account search check-mail resend exempt extend mark unlock token" -s h -l help -d 'Print help'
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and not __fish_seen_subcommand_from account search check-mail resend exempt extend mark unlock token" -f -a "account" -d 'Show everything about one account (directory, campaigns, mails, history, audit)'
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and not __fish_seen_subcommand_from account search check-mail resend exempt extend mark unlock token" -f -a "search" -d 'Find accounts by any part (3 characters or more) of a login, display name or mail address, in the campaigns and the directory; one page at a time'
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and not __fish_seen_subcommand_from account search check-mail resend exempt extend mark unlock token" -f -a "check-mail" -d 'Is this mail ours? Give the mail\'s Message-ID, its link or the reference code from its footer (as an argument, or on standard input with `-` or nothing, which keeps a link\'s token out of the process list). Exit 0: pwresetd sent it; 1: it did not'
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and not __fish_seen_subcommand_from account search check-mail resend exempt extend mark unlock token" -f -a "resend" -d 'Send the account a new one-time link now'
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and not __fish_seen_subcommand_from account search check-mail resend exempt extend mark unlock token" -f -a "exempt" -d 'Take the account out of the campaign (clears its flag unless it was set before)'
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and not __fish_seen_subcommand_from account search check-mail resend exempt extend mark unlock token" -f -a "extend" -d 'Give the account a later deadline (RFC 3339, e.g. 2027-01-15T17:00:00Z)'
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and not __fish_seen_subcommand_from account search check-mail resend exempt extend mark unlock token" -f -a "mark" -d 'Put the account back in the campaign and set its flag'
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and not __fish_seen_subcommand_from account search check-mail resend exempt extend mark unlock token" -f -a "unlock" -d 'Unlock an account the campaign\'s deadline locked (the lock state from before comes back) and mail it a new link; do it once you have checked who is asking'
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and not __fish_seen_subcommand_from account search check-mail resend exempt extend mark unlock token" -f -a "token" -d 'Manage API tokens'
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and __fish_seen_subcommand_from account" -l url -d 'The helpdesk\'s base URL: the admin listener (http://host:9187) or the proxy in front of it' -r
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and __fish_seen_subcommand_from account" -l token-file -d 'A file holding the API token (NAME.SECRET) on its first line' -r -F
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and __fish_seen_subcommand_from account" -l ca-file -d 'CA certificates (PEM) to trust for an https URL, instead of the system\'s' -r -F
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and __fish_seen_subcommand_from account" -l config -d 'Configuration file' -r -F
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and __fish_seen_subcommand_from account" -l log-format -d 'Log format on stderr' -r -f -a "text\t''
json\t''"
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and __fish_seen_subcommand_from account" -l json
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and __fish_seen_subcommand_from account" -s h -l help -d 'Print help'
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and __fish_seen_subcommand_from search" -l offset -d 'Skip this many accounts (the next page starts where the previous one said)' -r
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and __fish_seen_subcommand_from search" -l limit -d 'Accounts per page (1 to 100)' -r
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and __fish_seen_subcommand_from search" -l url -d 'The helpdesk\'s base URL: the admin listener (http://host:9187) or the proxy in front of it' -r
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and __fish_seen_subcommand_from search" -l token-file -d 'A file holding the API token (NAME.SECRET) on its first line' -r -F
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and __fish_seen_subcommand_from search" -l ca-file -d 'CA certificates (PEM) to trust for an https URL, instead of the system\'s' -r -F
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and __fish_seen_subcommand_from search" -l config -d 'Configuration file' -r -F
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and __fish_seen_subcommand_from search" -l log-format -d 'Log format on stderr' -r -f -a "text\t''
json\t''"
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and __fish_seen_subcommand_from search" -l json
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and __fish_seen_subcommand_from search" -s h -l help -d 'Print help'
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and __fish_seen_subcommand_from check-mail" -l url -d 'The helpdesk\'s base URL: the admin listener (http://host:9187) or the proxy in front of it' -r
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and __fish_seen_subcommand_from check-mail" -l token-file -d 'A file holding the API token (NAME.SECRET) on its first line' -r -F
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and __fish_seen_subcommand_from check-mail" -l ca-file -d 'CA certificates (PEM) to trust for an https URL, instead of the system\'s' -r -F
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and __fish_seen_subcommand_from check-mail" -l config -d 'Configuration file' -r -F
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and __fish_seen_subcommand_from check-mail" -l log-format -d 'Log format on stderr' -r -f -a "text\t''
json\t''"
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and __fish_seen_subcommand_from check-mail" -l json
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and __fish_seen_subcommand_from check-mail" -s h -l help -d 'Print help'
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and __fish_seen_subcommand_from resend" -l campaign -d 'The campaign (needed only when the account is in several open campaigns)' -r
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and __fish_seen_subcommand_from resend" -l reason -r
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and __fish_seen_subcommand_from resend" -l url -d 'The helpdesk\'s base URL: the admin listener (http://host:9187) or the proxy in front of it' -r
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and __fish_seen_subcommand_from resend" -l token-file -d 'A file holding the API token (NAME.SECRET) on its first line' -r -F
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and __fish_seen_subcommand_from resend" -l ca-file -d 'CA certificates (PEM) to trust for an https URL, instead of the system\'s' -r -F
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and __fish_seen_subcommand_from resend" -l config -d 'Configuration file' -r -F
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and __fish_seen_subcommand_from resend" -l log-format -d 'Log format on stderr' -r -f -a "text\t''
json\t''"
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and __fish_seen_subcommand_from resend" -l json -d 'Print the server\'s JSON answer'
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and __fish_seen_subcommand_from resend" -s h -l help -d 'Print help'
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and __fish_seen_subcommand_from exempt" -l campaign -d 'The campaign (needed only when the account is in several open campaigns)' -r
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and __fish_seen_subcommand_from exempt" -l reason -d 'Why (recorded in the audit trail)' -r
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and __fish_seen_subcommand_from exempt" -l url -d 'The helpdesk\'s base URL: the admin listener (http://host:9187) or the proxy in front of it' -r
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and __fish_seen_subcommand_from exempt" -l token-file -d 'A file holding the API token (NAME.SECRET) on its first line' -r -F
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and __fish_seen_subcommand_from exempt" -l ca-file -d 'CA certificates (PEM) to trust for an https URL, instead of the system\'s' -r -F
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and __fish_seen_subcommand_from exempt" -l config -d 'Configuration file' -r -F
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and __fish_seen_subcommand_from exempt" -l log-format -d 'Log format on stderr' -r -f -a "text\t''
json\t''"
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and __fish_seen_subcommand_from exempt" -l json -d 'Print the server\'s JSON answer'
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and __fish_seen_subcommand_from exempt" -s h -l help -d 'Print help'
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and __fish_seen_subcommand_from extend" -l campaign -d 'The campaign (needed only when the account is in several open campaigns)' -r
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and __fish_seen_subcommand_from extend" -l deadline -r
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and __fish_seen_subcommand_from extend" -l reason -r
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and __fish_seen_subcommand_from extend" -l url -d 'The helpdesk\'s base URL: the admin listener (http://host:9187) or the proxy in front of it' -r
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and __fish_seen_subcommand_from extend" -l token-file -d 'A file holding the API token (NAME.SECRET) on its first line' -r -F
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and __fish_seen_subcommand_from extend" -l ca-file -d 'CA certificates (PEM) to trust for an https URL, instead of the system\'s' -r -F
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and __fish_seen_subcommand_from extend" -l config -d 'Configuration file' -r -F
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and __fish_seen_subcommand_from extend" -l log-format -d 'Log format on stderr' -r -f -a "text\t''
json\t''"
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and __fish_seen_subcommand_from extend" -l json -d 'Print the server\'s JSON answer'
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and __fish_seen_subcommand_from extend" -s h -l help -d 'Print help'
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and __fish_seen_subcommand_from mark" -l campaign -d 'The campaign (needed only when the account is in several open campaigns)' -r
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and __fish_seen_subcommand_from mark" -l reason -r
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and __fish_seen_subcommand_from mark" -l url -d 'The helpdesk\'s base URL: the admin listener (http://host:9187) or the proxy in front of it' -r
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and __fish_seen_subcommand_from mark" -l token-file -d 'A file holding the API token (NAME.SECRET) on its first line' -r -F
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and __fish_seen_subcommand_from mark" -l ca-file -d 'CA certificates (PEM) to trust for an https URL, instead of the system\'s' -r -F
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and __fish_seen_subcommand_from mark" -l config -d 'Configuration file' -r -F
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and __fish_seen_subcommand_from mark" -l log-format -d 'Log format on stderr' -r -f -a "text\t''
json\t''"
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and __fish_seen_subcommand_from mark" -l json -d 'Print the server\'s JSON answer'
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and __fish_seen_subcommand_from mark" -s h -l help -d 'Print help'
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and __fish_seen_subcommand_from unlock" -l campaign -d 'The campaign (needed only when the account is in several open campaigns)' -r
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and __fish_seen_subcommand_from unlock" -l reason -d 'Why, e.g. how the person was verified (recorded in the audit trail)' -r
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and __fish_seen_subcommand_from unlock" -l url -d 'The helpdesk\'s base URL: the admin listener (http://host:9187) or the proxy in front of it' -r
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and __fish_seen_subcommand_from unlock" -l token-file -d 'A file holding the API token (NAME.SECRET) on its first line' -r -F
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and __fish_seen_subcommand_from unlock" -l ca-file -d 'CA certificates (PEM) to trust for an https URL, instead of the system\'s' -r -F
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and __fish_seen_subcommand_from unlock" -l config -d 'Configuration file' -r -F
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and __fish_seen_subcommand_from unlock" -l log-format -d 'Log format on stderr' -r -f -a "text\t''
json\t''"
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and __fish_seen_subcommand_from unlock" -l json -d 'Print the server\'s JSON answer'
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and __fish_seen_subcommand_from unlock" -s h -l help -d 'Print help'
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and __fish_seen_subcommand_from token" -l url -d 'The helpdesk\'s base URL: the admin listener (http://host:9187) or the proxy in front of it' -r
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and __fish_seen_subcommand_from token" -l token-file -d 'A file holding the API token (NAME.SECRET) on its first line' -r -F
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and __fish_seen_subcommand_from token" -l ca-file -d 'CA certificates (PEM) to trust for an https URL, instead of the system\'s' -r -F
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and __fish_seen_subcommand_from token" -l config -d 'Configuration file' -r -F
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and __fish_seen_subcommand_from token" -l log-format -d 'Log format on stderr' -r -f -a "text\t''
json\t''"
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and __fish_seen_subcommand_from token" -s h -l help -d 'Print help'
complete -c pwresetd -n "__fish_pwresetd_using_subcommand helpdesk; and __fish_seen_subcommand_from token" -f -a "create" -d 'Make a new token: prints it once, and the line to add to helpdesk.api_tokens_file'
complete -c pwresetd -n "__fish_pwresetd_using_subcommand audit; and not __fish_seen_subcommand_from export verify" -l config -d 'Configuration file' -r -F
complete -c pwresetd -n "__fish_pwresetd_using_subcommand audit; and not __fish_seen_subcommand_from export verify" -l log-format -d 'Log format on stderr' -r -f -a "text\t''
json\t''"
complete -c pwresetd -n "__fish_pwresetd_using_subcommand audit; and not __fish_seen_subcommand_from export verify" -s h -l help -d 'Print help'
complete -c pwresetd -n "__fish_pwresetd_using_subcommand audit; and not __fish_seen_subcommand_from export verify" -f -a "export" -d 'Write the audit records, oldest first, one JSON object a line, to stdout'
complete -c pwresetd -n "__fish_pwresetd_using_subcommand audit; and not __fish_seen_subcommand_from export verify" -f -a "verify" -d 'Check a chain: an exported FILE ("-": stdin), or the store itself with --store. Exit 1 names the 1-based line of the first record that does not verify'
complete -c pwresetd -n "__fish_pwresetd_using_subcommand audit; and __fish_seen_subcommand_from export" -l campaign -d 'Only this campaign\'s records (its own chain); all records without it' -r
complete -c pwresetd -n "__fish_pwresetd_using_subcommand audit; and __fish_seen_subcommand_from export" -l format -r -f -a "jsonl\t'One JSON object a line'"
complete -c pwresetd -n "__fish_pwresetd_using_subcommand audit; and __fish_seen_subcommand_from export" -l config -d 'Configuration file' -r -F
complete -c pwresetd -n "__fish_pwresetd_using_subcommand audit; and __fish_seen_subcommand_from export" -l log-format -d 'Log format on stderr' -r -f -a "text\t''
json\t''"
complete -c pwresetd -n "__fish_pwresetd_using_subcommand audit; and __fish_seen_subcommand_from export" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pwresetd -n "__fish_pwresetd_using_subcommand audit; and __fish_seen_subcommand_from verify" -l config -d 'Configuration file' -r -F
complete -c pwresetd -n "__fish_pwresetd_using_subcommand audit; and __fish_seen_subcommand_from verify" -l log-format -d 'Log format on stderr' -r -f -a "text\t''
json\t''"
complete -c pwresetd -n "__fish_pwresetd_using_subcommand audit; and __fish_seen_subcommand_from verify" -l store -d 'Check the store named by the configuration instead of a file'
complete -c pwresetd -n "__fish_pwresetd_using_subcommand audit; and __fish_seen_subcommand_from verify" -s h -l help -d 'Print help'
complete -c pwresetd -n "__fish_pwresetd_using_subcommand breach-index; and not __fish_seen_subcommand_from build" -l config -d 'Configuration file' -r -F
complete -c pwresetd -n "__fish_pwresetd_using_subcommand breach-index; and not __fish_seen_subcommand_from build" -l log-format -d 'Log format on stderr' -r -f -a "text\t''
json\t''"
complete -c pwresetd -n "__fish_pwresetd_using_subcommand breach-index; and not __fish_seen_subcommand_from build" -s h -l help -d 'Print help'
complete -c pwresetd -n "__fish_pwresetd_using_subcommand breach-index; and not __fish_seen_subcommand_from build" -f -a "build" -d 'Build an index from a Pwned Passwords SHA-1 file (`HASH:COUNT` lines, any order)'
complete -c pwresetd -n "__fish_pwresetd_using_subcommand breach-index; and __fish_seen_subcommand_from build" -l input -d 'The Pwned Passwords SHA-1 file' -r -F
complete -c pwresetd -n "__fish_pwresetd_using_subcommand breach-index; and __fish_seen_subcommand_from build" -l output -d 'Where to write the index (replaced atomically; temporary files go beside it)' -r -F
complete -c pwresetd -n "__fish_pwresetd_using_subcommand breach-index; and __fish_seen_subcommand_from build" -l run-entries -d 'Hashes per in-memory sorted run (24 bytes each); lower it on small machines' -r
complete -c pwresetd -n "__fish_pwresetd_using_subcommand breach-index; and __fish_seen_subcommand_from build" -l config -d 'Configuration file' -r -F
complete -c pwresetd -n "__fish_pwresetd_using_subcommand breach-index; and __fish_seen_subcommand_from build" -l log-format -d 'Log format on stderr' -r -f -a "text\t''
json\t''"
complete -c pwresetd -n "__fish_pwresetd_using_subcommand breach-index; and __fish_seen_subcommand_from build" -s h -l help -d 'Print help'
complete -c pwresetd -n "__fish_pwresetd_using_subcommand store; and not __fish_seen_subcommand_from migrate" -l config -d 'Configuration file' -r -F
complete -c pwresetd -n "__fish_pwresetd_using_subcommand store; and not __fish_seen_subcommand_from migrate" -l log-format -d 'Log format on stderr' -r -f -a "text\t''
json\t''"
complete -c pwresetd -n "__fish_pwresetd_using_subcommand store; and not __fish_seen_subcommand_from migrate" -s h -l help -d 'Print help'
complete -c pwresetd -n "__fish_pwresetd_using_subcommand store; and not __fish_seen_subcommand_from migrate" -f -a "migrate" -d 'Copy a SQLite store into an empty PostgreSQL database, then compare every table\'s row count (exit 1 naming the table that differs; a non-empty target is refused)'
complete -c pwresetd -n "__fish_pwresetd_using_subcommand store; and __fish_seen_subcommand_from migrate" -l from -d 'The SQLite store (`[store] path`); stop the service first' -r -F
complete -c pwresetd -n "__fish_pwresetd_using_subcommand store; and __fish_seen_subcommand_from migrate" -l to -d 'The PostgreSQL database, as `[store] url` (no password in it)' -r
complete -c pwresetd -n "__fish_pwresetd_using_subcommand store; and __fish_seen_subcommand_from migrate" -l password-file -d 'The file holding the database password (as `[store] password_file`)' -r -F
complete -c pwresetd -n "__fish_pwresetd_using_subcommand store; and __fish_seen_subcommand_from migrate" -l ca-file -d 'The CA that signed the database server\'s certificate (as `[store] ca_file`)' -r -F
complete -c pwresetd -n "__fish_pwresetd_using_subcommand store; and __fish_seen_subcommand_from migrate" -l config -d 'Configuration file' -r -F
complete -c pwresetd -n "__fish_pwresetd_using_subcommand store; and __fish_seen_subcommand_from migrate" -l log-format -d 'Log format on stderr' -r -f -a "text\t''
json\t''"
complete -c pwresetd -n "__fish_pwresetd_using_subcommand store; and __fish_seen_subcommand_from migrate" -l allow-insecure -d 'Allow `sslmode=disable`/`prefer` in the URL (test databases only)'
complete -c pwresetd -n "__fish_pwresetd_using_subcommand store; and __fish_seen_subcommand_from migrate" -s h -l help -d 'Print help'
