{#- Returns slip, 4x6 in at 203 dpi. Every {{ }} passes through zpl_text. -#}
^XA
^CI28
^PW812
^LL1218
^LH0,0
{% if font %}^CW{{ font.letter }},{{ font.path }}{% endif %}
^FO30,24^A0N,50,50^FDRETURN^FS
^FO30,90^A0N,30,30^FH^FDOrder {{ order_number }}^FS
^FO0,136^GB812,3,3^FS
^FX the customer sending the return
^FO30,150^A0N,22,22^FDFROM^FS
{% for line in customer_lines %}
^FO30,{{ 178 + loop.index0 * 32 }}^A{{ cf }}N,28,28^FH^FD{{ line }}^FS
{% endfor %}
^FO0,446^GB812,3,3^FS
^FX the warehouse receiving it
^FO30,460^A0N,22,22^FDRETURN TO^FS
{% for line in return_lines %}
^FO30,{{ 490 + loop.index0 * 38 }}^A{{ cf }}N,34,34^FH^FD{{ line }}^FS
{% endfor %}
^FO0,800^GB812,3,3^FS
^FX RMA number, Code 128 (automatic subsets)
^FO30,812^A0N,22,22^FDRMA^FS
^FO60,840^BY{{ rma_by }},3.0,160^BCN,160,Y,N,N,A^FD{{ slip.rma_number }}^FS
^FO0,1050^GB812,3,3^FS
{% if slip.reason %}^FO30,1066^A{{ cf }}N,30,30^FH^FDReason: {{ slip.reason }}^FS{% endif %}
^FO30,1192^A0N,18,18^FH^FDjob {{ job_id }}^FS
^XZ
