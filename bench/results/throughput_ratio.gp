set terminal pngcairo size 1400,1000 font 'Sans,11' noenhanced
set output 'throughput_ratio.png'
set datafile missing '?'
set multiplot layout 2,2 title 'Throughput as a fraction of direct (echo, messages/s; higher is better)' font 'Sans,14'
set yrange [0:1.8]
set grid ytics
set xrange [-0.3:3.300000]
set key top center horizontal maxrows 3 width -2
set ylabel 'ratio to direct'
set xlabel 'message size'
set title 'NULL, 1 pair'
plot 1 with lines dt 2 lw 2 lc rgb 'black' title 'direct = 1', \
     'throughput_ratio.dat' index 0 using 1:3:xtic(2) with linespoints lw 3 pt 7 ps 1.5 lc rgb '#ff7f0e' title 'StreamQ-Proxy, stream engine', \
     'throughput_ratio.dat' index 0 using 1:4:xtic(2) with linespoints lw 3 pt 7 ps 1.5 lc rgb '#d62728' title 'StreamQ-Proxy, splice engine', \
     'throughput_ratio.dat' index 0 using 1:5:xtic(2) with linespoints lw 2 pt 5 lc rgb '#1f77b4' title 'zmq_proxy broker', \
     'throughput_ratio.dat' index 0 using 1:6:xtic(2) with linespoints lw 2 pt 9 lc rgb '#2ca02c' title 'HAProxy (TCP)', \
     'throughput_ratio.dat' index 0 using 1:7:xtic(2) with linespoints lw 2 pt 9 dt 3 lc rgb '#2ca02c' title 'HAProxy (TCP, splice)', \
     'throughput_ratio.dat' index 0 using 1:8:xtic(2) with linespoints lw 2 pt 11 lc rgb '#9467bd' title 'socat'
set title 'NULL, 100 pairs'
plot 1 with lines dt 2 lw 2 lc rgb 'black' title 'direct = 1', \
     'throughput_ratio.dat' index 1 using 1:3:xtic(2) with linespoints lw 3 pt 7 ps 1.5 lc rgb '#ff7f0e' title 'StreamQ-Proxy, stream engine', \
     'throughput_ratio.dat' index 1 using 1:4:xtic(2) with linespoints lw 3 pt 7 ps 1.5 lc rgb '#d62728' title 'StreamQ-Proxy, splice engine', \
     'throughput_ratio.dat' index 1 using 1:5:xtic(2) with linespoints lw 2 pt 5 lc rgb '#1f77b4' title 'zmq_proxy broker', \
     'throughput_ratio.dat' index 1 using 1:6:xtic(2) with linespoints lw 2 pt 9 lc rgb '#2ca02c' title 'HAProxy (TCP)', \
     'throughput_ratio.dat' index 1 using 1:7:xtic(2) with linespoints lw 2 pt 9 dt 3 lc rgb '#2ca02c' title 'HAProxy (TCP, splice)', \
     'throughput_ratio.dat' index 1 using 1:8:xtic(2) with linespoints lw 2 pt 11 lc rgb '#9467bd' title 'socat'
set title 'CURVE, 1 pair'
plot 1 with lines dt 2 lw 2 lc rgb 'black' title 'direct = 1', \
     'throughput_ratio.dat' index 2 using 1:3:xtic(2) with linespoints lw 3 pt 7 ps 1.5 lc rgb '#ff7f0e' title 'StreamQ-Proxy, stream engine', \
     'throughput_ratio.dat' index 2 using 1:4:xtic(2) with linespoints lw 3 pt 7 ps 1.5 lc rgb '#d62728' title 'StreamQ-Proxy, splice engine', \
     'throughput_ratio.dat' index 2 using 1:5:xtic(2) with linespoints lw 2 pt 5 lc rgb '#1f77b4' title 'zmq_proxy broker', \
     'throughput_ratio.dat' index 2 using 1:6:xtic(2) with linespoints lw 2 pt 9 lc rgb '#2ca02c' title 'HAProxy (TCP)', \
     'throughput_ratio.dat' index 2 using 1:7:xtic(2) with linespoints lw 2 pt 9 dt 3 lc rgb '#2ca02c' title 'HAProxy (TCP, splice)', \
     'throughput_ratio.dat' index 2 using 1:8:xtic(2) with linespoints lw 2 pt 11 lc rgb '#9467bd' title 'socat'
set title 'CURVE, 100 pairs'
plot 1 with lines dt 2 lw 2 lc rgb 'black' title 'direct = 1', \
     'throughput_ratio.dat' index 3 using 1:3:xtic(2) with linespoints lw 3 pt 7 ps 1.5 lc rgb '#ff7f0e' title 'StreamQ-Proxy, stream engine', \
     'throughput_ratio.dat' index 3 using 1:4:xtic(2) with linespoints lw 3 pt 7 ps 1.5 lc rgb '#d62728' title 'StreamQ-Proxy, splice engine', \
     'throughput_ratio.dat' index 3 using 1:5:xtic(2) with linespoints lw 2 pt 5 lc rgb '#1f77b4' title 'zmq_proxy broker', \
     'throughput_ratio.dat' index 3 using 1:6:xtic(2) with linespoints lw 2 pt 9 lc rgb '#2ca02c' title 'HAProxy (TCP)', \
     'throughput_ratio.dat' index 3 using 1:7:xtic(2) with linespoints lw 2 pt 9 dt 3 lc rgb '#2ca02c' title 'HAProxy (TCP, splice)', \
     'throughput_ratio.dat' index 3 using 1:8:xtic(2) with linespoints lw 2 pt 11 lc rgb '#9467bd' title 'socat'
unset multiplot
