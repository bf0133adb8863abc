#!/usr/bin/env bash
# perf/report.sh DIR: turns a perf/run.sh results directory (matrix.csv,
# connections.csv, meta.txt, notes.txt) into DIR/report.md with gnuplot PNGs
# beside it, and prints the summary table. Runs again on old results too.
set -euo pipefail
DIR=${1:?usage: perf/report.sh RESULTS_DIR}
MATRIX=$DIR/matrix.csv
CONN=$DIR/connections.csv
REPORT=$DIR/report.md
PLOTDATA=$(mktemp -d /tmp/hd-perf-plot-XXXXXX)
trap 'rm -rf "$PLOTDATA"' EXIT

meta() {
	sed -n "s/^$1=//p" "$DIR/meta.txt" 2>/dev/null
}

# Rows of matrix.csv as "field=value" lookups are awkward in bash: awk does the work.

# ---- plots ----

combos=$(awk -F, 'NR > 1 { k = $1 " " $2; if (!(k in s)) { s[k] = 1; print k } }' "$MATRIX")
pairs_list=$(awk -F, 'NR > 1 { print $4 }' "$MATRIX" | sort -nu)
sizes_list=$(awk -F, 'NR > 1 { print $3 }' "$MATRIX" | sort -nu)
lat_size=1400
grep -q ",$lat_size," <(awk -F, 'NR > 1 { print "," $3 "," }' "$MATRIX") ||
	lat_size=$(echo "$sizes_list" | head -1)

# One data file per (transport, workers, pairs): size and the figures.
while read -r t w; do
	[ -n "$t" ] || continue
	for p in $pairs_list; do
		awk -F, -v t="$t" -v w="$w" -v p="$p" \
			'NR > 1 && $1 == t && $2 == w && $4 == p { print $3, $7, $9, $11 * 100, $12 }' \
			"$MATRIX" | sort -n >"$PLOTDATA/by_size-$t-$w-$p.dat"
	done
	awk -F, -v t="$t" -v w="$w" -v s="$lat_size" \
		'NR > 1 && $1 == t && $2 == w && $3 == s { print $4, $17, $18, $19, $20, $21, $22 }' \
		"$MATRIX" | sort -n >"$PLOTDATA/latency-$t-$w.dat"
done <<<"$combos"

ncombos=$(grep -c . <<<"$combos" || true)
layout_rows=$(((ncombos + 1) / 2))
layout_cols=$((ncombos > 1 ? 2 : 1))

# plot_panels FILE TITLE YLABEL LOGY COLUMN_EXPR [DIRECT_COLUMN]
plot_panels() {
	local file=$1 title=$2 ylabel=$3 logy=$4 col=$5 dcol=${6:-} t w p plots
	{
		echo "set terminal pngcairo size $((layout_cols * 560)),$((layout_rows * 400)) font 'sans,10'"
		echo "set output '$DIR/$file'"
		echo "set multiplot layout $layout_rows,$layout_cols title '$title'"
		echo "set logscale x 2"
		echo "set xlabel 'payload bytes'"
		echo "set ylabel '$ylabel'"
		echo "set key top left opaque font 'sans,8'"
		echo "set grid"
		[ "$logy" = 1 ] && echo "set logscale y"
		[ "$logy" = 1 ] || echo "set yrange [0:*]"
		while read -r t w; do
			[ -n "$t" ] || continue
			echo "set title '$t, $w worker$([ "$w" = 1 ] || echo s)'"
			plots=""
			local i=1
			for p in $pairs_list; do
				plots+="'$PLOTDATA/by_size-$t-$w-$p.dat' using 1:$col with linespoints lc $i pt 7 title '$p pair$([ "$p" = 1 ] || echo s)', "
				if [ -n "$dcol" ]; then
					plots+="'$PLOTDATA/by_size-$t-$w-$p.dat' using 1:$dcol with lines lc $i dt 2 notitle, "
				fi
				i=$((i + 1))
			done
			echo "plot ${plots%, }"
		done <<<"$combos"
		echo "unset multiplot"
	} >"$PLOTDATA/$file.gp"
	gnuplot "$PLOTDATA/$file.gp"
}

plot_latency() {
	local file=latency.png t w
	{
		echo "set terminal pngcairo size $((layout_cols * 560)),$((layout_rows * 400)) font 'sans,10'"
		echo "set output '$DIR/$file'"
		echo "set multiplot layout $layout_rows,$layout_cols title 'One-way latency at a fixed offered load, $lat_size-byte payloads (solid: relay, dashed: direct)'"
		echo "set logscale x 2"
		echo "set logscale y"
		echo "set xlabel 'pairs'"
		echo "set ylabel 'microseconds'"
		echo "set key top left opaque font 'sans,8'"
		echo "set grid"
		while read -r t w; do
			[ -n "$t" ] || continue
			local d="$PLOTDATA/latency-$t-$w.dat"
			echo "set title '$t, $w worker$([ "$w" = 1 ] || echo s)'"
			echo "plot '$d' using 1:2 with linespoints lc 1 pt 7 title 'p50', '$d' using 1:3 with linespoints lc 2 pt 7 title 'p99', '$d' using 1:4 with linespoints lc 3 pt 7 title 'p99.9', '$d' using 1:5 with lines lc 1 dt 2 notitle, '$d' using 1:6 with lines lc 2 dt 2 notitle, '$d' using 1:7 with lines lc 3 dt 2 notitle"
		done <<<"$combos"
		echo "unset multiplot"
	} >"$PLOTDATA/$file.gp"
	gnuplot "$PLOTDATA/$file.gp"
}

PLOTS=0
if command -v gnuplot >/dev/null && [ "$ncombos" -gt 0 ]; then
	plot_panels throughput_fraction.png 'Relay throughput as % of the no-relay limit (same run)' \
		'% of direct Mbit/s' 0 4
	plot_panels throughput_mbps.png 'Payload Mbit/s (solid: relay, dashed: direct loopback)' \
		'Mbit/s' 1 2 3
	plot_panels cpu_per_gb.png 'Relay CPU seconds per GB of payload relayed' 'CPU s / GB' 1 5
	plot_latency
	PLOTS=1
fi

# ---- report.md ----

fmt_matrix_md() {
	awk -F, 'NR > 1 {
		frac = $11 == "" ? "–" : sprintf("%.1f%%", $11 * 100)
		loss = $14 + 0 > 0 ? sprintf("**%d of %d**%s", $14, $13, $15 + 0 > 0 ? " (stall)" : "") : "0"
		llost = $23 + 0 > 0 ? sprintf(" **lost %d**", $23) : ""
		printf "| %s | %s | %s | %s | %.1f | %.0f | %.1f | %s | %s | %s | %s | %s / %s / %s | %s / %s / %s%s |\n",
			$1, $2, $3, $4, $7, $8 / 1000, $9, frac, $12 == "" ? "–" : sprintf("%.2f", $12),
			loss, $16, r($17), r($18), r($19), r($20), r($21), r($22), llost
	}
	function r(v) { return v == "" ? "–" : (v + 0 >= 100 ? sprintf("%.0f", v) : sprintf("%.1f", v)) }' "$MATRIX"
}

headline_md() {
	awk -F, 'NR > 1 && $11 != "" {
		k = $1 " / " $2 " worker" ($2 == 1 ? "" : "s")
		if (!(k in n)) order[++nk] = k
		n[k]++; lf[k] += log($11)
		if (!(k in mn) || $11 < mn[k]) { mn[k] = $11; mnc[k] = $3 " B x " $4 }
		if (!(k in mx) || $11 > mx[k]) { mx[k] = $11; mxc[k] = $3 " B x " $4 }
	} END {
		for (i = 1; i <= nk; i++) { k = order[i]
			printf "| %s | %.1f%% | %.1f%% (%s) | %.1f%% (%s) |\n", k, exp(lf[k] / n[k]) * 100,
				mn[k] * 100, mnc[k], mx[k] * 100, mxc[k] }
	}' "$MATRIX"
}

conn_md() {
	awk -F, 'NR > 1 {
		if ($1 == "connect_rate")
			printf "| setup rate | %s | %s handshakes/s | handshake p50 %s ms, p99 %s ms | %s us relay CPU per handshake | %s failed |\n", $2, $6, $7, $8, $9, $14
		else
			printf "| idle %s%s | %s | %s connected (%s/s) | %s bytes RSS per connection | %s%% of a core while idle | %s closed by relay, %s failed; kernel slab %s bytes/conn |\n", $4, $15 == "" ? "" : " (" $15 ")", $2, $5, $6, $10, $11, $13, $14, $12
	}' "$CONN"
}

{
	echo "# hyper-derp benchmark report"
	echo
	echo "Run $(meta date_utc) at commit $(meta commit) on $(meta cpus) CPUs ($(meta cpu_model)),"
	echo "Linux $(meta kernel), OpenSSL $(meta openssl); $(meta elapsed_s) s in all."
	echo "The relay (release build, default settings but for \`--workers\`) and hdbench share"
	echo "these CPUs, so absolute figures move from run to run; **each relay figure is paired with"
	echo "the no-relay limit (\`hdbench --direct\`, the same traffic over direct loopback TCP, TLS"
	echo "for TLS rows) measured right before it**, and the ratio is the figure to compare."
	echo "Throughput runs: $(meta duration_s) s, window $(meta window) packets in flight per pair,"
	echo "one hdbench thread; latency runs: $(meta latency_duration_s) s at $(meta latency_total_pps)"
	echo "packets/s in total over all pairs ($(meta latency_total_pps_large) for payloads over 4 KiB)."
	echo "Repeats per cell: $(meta repeat) (medians)."
	echo
	echo "Other load on the machine (not ours): $(meta background_start) before the run,"
	echo "$(meta background_end) after it. Anything above a few percent inflates tail latency"
	echo "and lowers absolute throughput; the ratios suffer less."
	echo
	echo "## Headline: relay throughput as a fraction of the no-relay limit"
	echo
	echo "| transport / workers | geometric mean over cells | lowest | highest |"
	echo "| --- | --- | --- | --- |"
	headline_md
	echo
	if [ -s "$CONN" ] && [ "$(wc -l <"$CONN")" -gt 1 ]; then
		echo "## Connections"
		echo
		echo "| test | transport | result | | | |"
		echo "| --- | --- | --- | --- | --- | --- |"
		conn_md
		echo
		echo "Setup rate: 4 client threads open, complete the DERP handshake (TCP, TLS, HTTP"
		echo "upgrade, ServerKey/ClientInfo/ServerInfo) and close, as fast as they go, 2 workers."
		echo "Idle: N connections complete the handshake and stay idle; RSS is the relay's VmRSS"
		echo "growth from before the first connection to 1 s after the last, divided by N; CPU is"
		echo "the relay's over a $(meta hold_s) s hold. Kernel slab is machine-wide (both ends)."
		echo
	fi
	if [ "$PLOTS" = 1 ]; then
		echo "## Plots"
		echo
		echo "![throughput as a fraction of direct](throughput_fraction.png)"
		echo
		echo "![Mbit/s](throughput_mbps.png)"
		echo
		echo "![CPU per GB](cpu_per_gb.png)"
		echo
		echo "![latency](latency.png)"
		echo
	else
		echo "_No plots: gnuplot is not installed (\`apt-get install --no-install-recommends gnuplot-nox\`, then \`perf/report.sh $DIR\`)._"
		echo
	fi
	echo "## Matrix"
	echo
	echo "Mbit/s and kpps are the relay's (payload only); % of direct = relay Mbit/s / direct"
	echo "Mbit/s. Latency is one-way, relay / direct, in microseconds, at the offered load shown."
	echo
	echo "| transport | workers | payload B | pairs | relay Mbit/s | relay kpps | direct Mbit/s | % of direct | relay CPU s/GB | lost | offered pps | relay p50 / p99 / p99.9 us | direct p50 / p99 / p99.9 us |"
	echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
	fmt_matrix_md
	echo
	echo "## Notes"
	echo
	if [ -s "$DIR/notes.txt" ]; then
		sed 's/^/- /' "$DIR/notes.txt" | cut -c1-600
	else
		echo "No loss, stall, crash or failed run."
	fi
	echo
	echo "Raw per-run figures: \`runs.csv\`; one row per cell: \`matrix.csv\`; connections: \`connections.csv\`."
} >"$REPORT"

# ---- stdout ----

echo
echo "hyper-derp vs the no-relay limit (same run), $(meta date_utc):"
{
	echo "transport workers bytes pairs relay_Mbit/s direct_Mbit/s %direct CPU_s/GB lost p50_us p99_us p999_us"
	awk -F, 'NR > 1 { printf "%s %s %s %s %.1f %.1f %.1f %s %s %s %s %s\n", $1, $2, $3, $4, $7, $9,
		$11 * 100, $12 == "" ? "-" : sprintf("%.2f", $12), $14, v($17), v($18), v($19) }
		function v(x) { return x == "" ? "-" : sprintf("%.0f", x) }' "$MATRIX"
} | column -t
if [ "$(wc -l <"$CONN")" -gt 1 ]; then
	echo
	awk -F, 'NR > 1 {
		if ($1 == "connect_rate")
			printf "setup %-5s %s handshakes/s, %s us relay CPU each, %s failed\n", $2, $6, $9, $14
		else
			printf "idle  %-5s %s of %s connections: %s bytes RSS each, %s%% CPU idle, %s closed\n", $2, $5, $4, $10, $11, $13
	}' "$CONN"
fi
echo
echo "report: $REPORT"
