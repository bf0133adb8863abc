#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes a BPF object file into a C source file as a byte array, so the
daemon carries its XDP program and needs no file at run time.

usage: embed_obj.py INPUT.o OUTPUT.c SYMBOL
"""
import sys


def main():
    src, dst, sym = sys.argv[1:4]
    data = open(src, 'rb').read()
    lines = []
    for i in range(0, len(data), 16):
        lines.append('\t' + ', '.join('0x%02x' % b for b in data[i:i + 16]) + ',')
    with open(dst, 'w') as f:
        f.write('/* Generated from %s by bpf/embed_obj.py: do not edit. */\n' % src.split('/')[-1])
        f.write('#include <stddef.h>\n\n')
        f.write('const unsigned char %s[] __attribute__((aligned(8))) = {\n' % sym)
        f.write('\n'.join(lines) + '\n};\n')
        f.write('const size_t %s_len = %d;\n' % (sym, len(data)))


if __name__ == '__main__':
    main()
