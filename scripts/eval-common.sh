# Shared by scripts/evaluate.sh and scripts/evaluate-spamassassin.sh (sourced).

# rate KIND FLAGGED TOTAL: "FP x %" for ham, "recall x %" for spam.
rate() {
    local what="recall"
    [ "$1" = ham ] && what="FP"
    awk -v w="$what" -v f="$2" -v t="$3" 'BEGIN { printf "%s %.2f %%", w, 100 * f / t }'
}
