/**
 * Every handler module the worker bundle contains. A new method is an entry
 * in the table (protocol/workerMethods.ts), a file in this folder that calls
 * `registerHandler` (see ../registry.ts), and one import line here.
 */
import './ping';
import './verify';
import './optimize';
import './latency';
import './matmul';
import './debug';
import './engineHandlers';
import './loraHandlers';
import './paramDiff';
import './graph';
import './inputPlan';
