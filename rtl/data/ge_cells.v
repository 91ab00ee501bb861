// Simulation models of the hwsim_ge cells (ge_cells.lib), for gate-level re-simulation.
`timescale 1ns/1ps
`default_nettype none
module BUF   (input wire A, output wire Y); assign Y = A; endmodule
module INV   (input wire A, output wire Y); assign Y = ~A; endmodule
module NAND2 (input wire A, input wire B, output wire Y); assign Y = ~(A & B); endmodule
module NOR2  (input wire A, input wire B, output wire Y); assign Y = ~(A | B); endmodule
module AND2  (input wire A, input wire B, output wire Y); assign Y = A & B; endmodule
module OR2   (input wire A, input wire B, output wire Y); assign Y = A | B; endmodule
module XOR2  (input wire A, input wire B, output wire Y); assign Y = A ^ B; endmodule
module XNOR2 (input wire A, input wire B, output wire Y); assign Y = ~(A ^ B); endmodule
module MUX2  (input wire A, input wire B, input wire S, output wire Y); assign Y = S ? B : A; endmodule
module DFF   (input wire C, input wire D, output reg Q); always @(posedge C) Q <= D; endmodule
`default_nettype wire
