"""Traditional and Simplified Chinese characters: used to compare copies across the two
scripts (near-duplicate detection) and to tell zh-tw from zh-cn (language detection)."""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Iterable
from importlib import resources

# Han ideographs of the Basic Multilingual Plane: the unified block, extension A and the
# compatibility ideographs (a regex character-class body).
HAN_BMP = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"


def _pairs(table: Iterable[str]) -> dict[int, str]:
    joined = "".join(table)
    return {ord(joined[i]): joined[i + 1] for i in range(0, len(joined), 2)}


# Traditional → Simplified, character by character: every Big5 character whose
# kSimplifiedVariant in the Unicode Han database (Unihan 15.0) is a GB 2312 character,
# plus 週→周. It is only used to canonicalise before shingling (both copies go through
# it), so where a Traditional character has several Simplified forms any one will do.
TRADITIONAL_TO_SIMPLIFIED = (
    "丟丢並并亂乱亞亚佇伫併并來来侖仑侶侣俁俣係系俠侠倀伥倆俩倉仓個个們们倫伦偉伟側侧偵侦偽伪傑杰傖伧傘伞備备傢家傭佣傯偬傳传傴伛債债傷伤傾倾僂偻僅仅僉佥僑侨僕仆僥侥"
    "僨偾價价儀仪儂侬億亿儈侩儉俭儐傧儔俦儕侪儘尽償偿優优儲储儷俪儺傩儻傥儼俨兌兑兒儿兗兖內内兩两冊册冪幂凈净凍冻凜凛凱凯別别刪删剄刭則则剋克剎刹剛刚剝剥剮剐剴剀創创"
    "劃划劇剧劉刘劊刽劌刿劍剑劑剂勁劲動动務务勛勋勝胜勞劳勢势勱劢勵励勸劝勻匀匭匦匯汇匱匮區区協协卻却厙厍厭厌厲厉厴厣參参叢丛吒咤吳吴吶呐呂吕咼呙員员唄呗唚吣問问啞哑"
    "啟启喚唤喪丧喬乔單单喲哟嗆呛嗇啬嗎吗嗚呜嗩唢嗶哔嘆叹嘍喽嘔呕嘖啧嘗尝嘜唛嘩哗嘮唠嘯啸嘰叽嘵哓嘸呒噓嘘噠哒噥哝噦哕噯嗳噲哙噴喷噸吨噹当嚀咛嚇吓嚌哜嚕噜嚙啮嚦呖嚨咙"
    "嚳喾嚴严嚶嘤囀啭囁嗫囂嚣囅冁囈呓囑嘱囪囱圇囵國国圍围園园圓圆圖图團团垵埯埡垭埰采執执堅坚堊垩堝埚堯尧報报場场塊块塋茔塏垲塒埘塗涂塢坞塤埙塵尘塹堑墊垫墜坠墮堕墳坟"
    "墾垦壇坛壓压壘垒壙圹壚垆壞坏壟垄壢坜壩坝壯壮壺壶壽寿夠够夢梦夾夹奐奂奧奥奩奁奪夺奮奋奼姹妝妆姍姗姦奸娛娱婁娄婦妇婭娅媧娲媯妫媼媪媽妈嫗妪嫵妩嫻娴嬈娆嬋婵嬌娇嬙嫱"
    "嬡嫒嬤嬷嬪嫔嬰婴嬸婶孌娈孫孙學学孿孪宮宫寢寝實实寧宁審审寫写寬宽寵宠寶宝將将專专尋寻對对導导尷尴屆届屍尸屜屉屢屡層层屨屦屬属岡冈峴岘島岛峽峡崍崃崗岗崢峥嵐岚嶁嵝"
    "嶄崭嶇岖嶗崂嶠峤嶧峄嶴岙嶸嵘嶺岭嶼屿巋岿巒峦巔巅巰巯帥帅師师帳帐帶带幀帧幃帏幗帼幘帻幟帜幣币幫帮幬帱幹干幾几庫库廁厕廂厢廄厩廈厦廚厨廝厮廟庙廠厂廡庑廢废廣广廩廪"
    "廬庐廳厅弒弑弳弪張张強强彈弹彌弥彎弯彙汇彥彦後后徑径從从徠徕復复徹彻恆恒恥耻悅悦悵怅悶闷惡恶惱恼惲恽惻恻愛爱愜惬愨悫愴怆愷恺愾忾慄栗態态慍愠慘惨慚惭慟恸慣惯慪怄"
    "慫怂慮虑慳悭慶庆憂忧憊惫憐怜憑凭憒愦憚惮憤愤憫悯憮怃憲宪憶忆懇恳應应懌怿懍懔懞蒙懟怼懣懑懨恹懲惩懶懒懷怀懸悬懺忏懼惧懾慑戀恋戇戆戔戋戠只戧戗戩戬戰战戲戏戶户拋抛"
    "挾挟捨舍捫扪捲卷掃扫掄抡掙挣掛挂採采揀拣揚扬換换揮挥損损搖摇搗捣搶抢摑掴摜掼摟搂摯挚摳抠摶抟摻掺撈捞撐撑撓挠撟挢撣掸撥拨撫抚撲扑撳揿撻挞撾挝撿捡擁拥擄掳擇择擊击"
    "擋挡擔担據据擠挤擬拟擯摈擰拧擱搁擲掷擴扩擷撷擺摆擻擞擼撸擾扰攄摅攆撵攏拢攔拦攖撄攙搀攛撺攜携攝摄攢攒攣挛攤摊攪搅攬揽敗败敘叙敵敌數数斂敛斃毙斕斓斬斩斷断於于時时"
    "晉晋晝昼暈晕暉晖暢畅暫暂曄晔曆历曇昙曉晓曏向曖暧曠旷曬晒書书會会朧胧東东柵栅桿杆梔栀條条梟枭棄弃棖枨棗枣棟栋棧栈棲栖椏桠楊杨楓枫楨桢業业極极榪杩榮荣榿桤構构槍枪"
    "槧椠槨椁槳桨樁桩樂乐樅枞樓楼標标樞枢樣样樸朴樹树樺桦橈桡橋桥機机橢椭橫横檁檩檉柽檔档檜桧檢检檣樯檯台檳槟檸柠檻槛櫃柜櫓橹櫚榈櫛栉櫝椟櫞橼櫟栎櫥橱櫧槠櫨栌櫪枥櫫橥"
    "櫬榇櫱蘖櫳栊櫸榉櫻樱欄栏權权欏椤欒栾欖榄欞棂欽钦歐欧歟欤歡欢歲岁歷历歸归歿殁殘残殞殒殤殇殫殚殮殓殯殡殲歼殺杀殼壳毀毁毆殴毿毵氂牦氈毡氌氇氣气氫氢氬氩氳氲決决沒没"
    "沖冲況况洶汹浹浃涇泾涼凉淚泪淥渌淪沦淵渊淶涞淺浅渙涣減减渦涡測测渾浑湊凑湞浈湯汤溈沩準准溝沟溫温滄沧滅灭滌涤滎荥滬沪滯滞滲渗滸浒滾滚滿满漁渔漚沤漢汉漣涟漬渍漲涨"
    "漵溆漸渐漿浆潁颍潑泼潔洁潛潜潤润潯浔潰溃潷滗潿涠澀涩澆浇澇涝澗涧澠渑澤泽澩泶澮浍澱淀濁浊濃浓濕湿濘泞濛蒙濟济濤涛濫滥濰潍濱滨濺溅濼泺濾滤瀅滢瀆渎瀉泻瀋沈瀏浏瀕濒"
    "瀘泸瀝沥瀟潇瀠潆瀦潴瀧泷瀨濑瀲潋瀾澜灃沣灄滠灑洒灕漓灘滩灝灏灠漤灣湾灤滦災灾為为烏乌烴烃無无煉炼煒炜煙烟煢茕煥焕煩烦煬炀熒荧熗炝熱热熾炽燁烨燈灯燒烧燙烫燜焖營营"
    "燦灿燭烛燴烩燼烬燾焘爍烁爐炉爛烂爭争爺爷爾尔牆墙牘牍牽牵犖荦犢犊犧牺狀状狹狭狽狈猙狰猶犹猻狲獄狱獅狮獎奖獨独獪狯獫猃獰狞獲获獵猎獷犷獸兽獺獭獻献獼猕玀猡現现琺珐"
    "琿珲瑋玮瑣琐瑤瑶瑩莹瑪玛璉琏璣玑璦瑷環环璽玺瓊琼瓏珑瓔璎瓚瓒甌瓯產产畝亩畢毕畫画異异當当疇畴疊叠痙痉痾疴瘋疯瘍疡瘓痪瘞瘗瘡疮瘧疟瘺瘘療疗癆痨癇痫癉瘅癘疠癟瘪癢痒"
    "癤疖癥症癩癞癬癣癭瘿癮瘾癰痈癱瘫癲癫發发皚皑皰疱皸皲皺皱盜盗盞盏盡尽監监盤盘盧卢盪荡眥眦眾众睏困睜睁睞睐瞞瞒瞭了瞼睑矇蒙矚瞩矯矫硃朱硤硖硨砗硯砚碩硕碭砀確确碼码"
    "磚砖磣碜磧碛磯矶磽硗礎础礙碍礦矿礪砺礫砾礬矾礱砻祿禄禍祸禎祯禦御禪禅禮礼禰祢禱祷禿秃秈籼稅税稈秆稟禀種种稱称穀谷穌稣積积穎颖穡穑穢秽穩稳穫获穭稆窩窝窪洼窮穷窯窑"
    "窶窭窺窥竄窜竅窍竇窦竊窃競竞筆笔筍笋筧笕箋笺箏筝節节範范築筑篋箧篤笃篩筛篳筚簀箦簍篓簞箪簡简簣篑簫箫簽签簾帘籃篮籌筹籜箨籟籁籠笼籩笾籪簖籬篱籮箩籲吁粵粤糝糁糞粪"
    "糧粮糲粝糴籴糶粜糾纠紀纪紂纣約约紅红紆纡紇纥紈纨紉纫紋纹納纳紐纽紓纾純纯紕纰紗纱紙纸級级紛纷紜纭紡纺細细紱绂紲绁紳绅紹绍紺绀紼绋紿绐絀绌終终組组絆绊絎绗結结絕绝"
    "絛绦絞绞絡络絢绚給给絨绒統统絲丝絳绛絹绢綁绑綃绡綆绠綈绨綏绥經经綜综綞缍綠绿綢绸綣绻綬绶維维綰绾綱纲網网綴缀綸纶綹绺綺绮綻绽綽绰綾绫綿绵緄绲緇缁緊紧緋绯緒绪緗缃"
    "緘缄緙缂線线緝缉緞缎締缔緡缗緣缘緦缌編编緩缓緬缅緯纬緱缑緲缈練练緶缏緹缇緻致縈萦縉缙縊缢縋缒縐绉縑缣縛缚縝缜縞缟縟缛縣县縫缝縭缡縮缩縱纵縲缧縵缦縶絷縷缕縹缥總总"
    "績绩繃绷繅缫繆缪繒缯織织繕缮繚缭繞绕繡绣繢缋繩绳繪绘繫系繭茧繯缳繰缲繳缴繹绎繼继繽缤繾缱纈缬纊纩續续纍累纏缠纓缨纔才纖纤纘缵纜缆缽钵罈坛罌罂罰罚罵骂罷罢羅罗羆罴"
    "羈羁羋芈羥羟義义習习翹翘耬耧聖圣聞闻聯联聰聪聲声聳耸聵聩聶聂職职聹聍聽听聾聋肅肃脅胁脈脉脛胫脫脱脹胀腎肾腡脶腦脑腫肿腳脚腸肠膃腽膚肤膠胶膩腻膽胆膾脍膿脓臉脸臍脐"
    "臏膑臘腊臚胪臟脏臠脔臨临臺台與与興兴舉举舊旧艙舱艤舣艦舰艫舻艱艰艷艳芻刍苧苎茲兹荊荆莊庄莖茎莢荚莧苋華华萇苌萊莱萬万萵莴葉叶葒荭葦苇葷荤蒔莳蒞莅蒼苍蓀荪蓋盖蓮莲"
    "蓯苁蓴莼蓽荜蔔卜蔞蒌蔣蒋蔥葱蔦茑蔭荫蕁荨蕆蒇蕎荞蕓芸蕕莸蕘荛蕢蒉蕩荡蕪芜蕭萧蕷蓣薈荟薊蓟薌芗薑姜薔蔷薟莶薦荐薩萨薺荠藍蓝藎荩藝艺藥药藪薮藶苈藹蔼藺蔺蘄蕲蘆芦蘇苏"
    "蘊蕴蘋苹蘚藓蘞蔹蘢茏蘭兰蘺蓠蘿萝處处虛虚虜虏號号虧亏虯虬蛺蛱蛻蜕蜆蚬蝕蚀蝟猬蝦虾蝸蜗螄蛳螞蚂螢萤螻蝼蟄蛰蟈蝈蟣虮蟬蝉蟯蛲蟲虫蟶蛏蟻蚁蠅蝇蠆虿蠐蛴蠑蝾蠟蜡蠣蛎蠱蛊"
    "蠶蚕蠻蛮衊蔑術术衕同衚胡衛卫衝冲袞衮裊袅補补裝装裡里製制複复褲裤褳裢褸褛褻亵襖袄襝裣襠裆襤褴襪袜襯衬襲袭見见規规覓觅視视覘觇覡觋覦觎親亲覬觊覯觏覲觐覷觑覺觉覽览"
    "覿觌觀观觴觞觶觯觸触訂订訃讣計计訊讯訌讧討讨訐讦訓训訕讪訖讫記记訛讹訝讶訟讼訣诀訥讷訪访設设許许訴诉訶诃診诊註注詁诂詆诋詎讵詐诈詒诒詔诏評评詘诎詛诅詞词詠咏詡诩"
    "詢询詣诣試试詩诗詫诧詬诟詭诡詮诠詰诘話话該该詳详詵诜詼诙詿诖誄诔誅诛誆诓誇夸誌志認认誑诳誒诶誕诞誘诱誚诮語语誠诚誡诫誣诬誤误誥诰誦诵誨诲說说誰谁課课誶谇誹诽誼谊"
    "調调諂谄諄谆談谈諉诿請请諍诤諏诹諑诼諒谅論论諗谂諛谀諜谍諞谝諢诨諤谔諦谛諧谐諫谏諭谕諮谘諱讳諳谙諶谌諷讽諸诸諺谚諼谖諾诺謀谋謁谒謂谓謄誊謅诌謊谎謎谜謐谧謔谑謖谡"
    "謗谤謙谦謚谥講讲謝谢謠谣謨谟謫谪謬谬謳讴謹谨謾谩證证譎谲譏讥譖谮識识譙谯譚谭譜谱譫谵譯译議议譴谴護护譽誉譾谫讀读變变讎雠讒谗讓让讕谰讖谶讜谠讞谳豈岂豎竖豐丰豬猪"
    "貓猫貝贝貞贞負负財财貢贡貧贫貨货販贩貪贪貫贯責责貯贮貰贳貲赀貳贰貴贵貶贬買买貸贷貺贶費费貼贴貽贻貿贸賀贺賁贲賂赂賃赁賄贿賅赅資资賈贾賊贼賑赈賒赊賓宾賕赇賚赉賜赐"
    "賞赏賠赔賡赓賢贤賣卖賤贱賦赋賧赕質质賬账賭赌賴赖賺赚賻赙購购賽赛賾赜贄贽贅赘贈赠贊赞贍赡贏赢贐赆贓赃贖赎贗赝贛赣趕赶趙赵趨趋趲趱跡迹踐践踴踊蹌跄蹕跸蹣蹒蹤踪蹺跷"
    "躉趸躊踌躋跻躍跃躑踯躒跞躓踬躕蹰躚跹躡蹑躥蹿躦躜躪躏軀躯車车軋轧軌轨軍军軒轩軔轫軛轭軟软軫轸軸轴軹轵軺轺軻轲軼轶軾轼較较輅辂輇辁載载輊轾輒辄輓挽輔辅輕轻輛辆輜辎"
    "輝辉輞辋輟辍輥辊輦辇輩辈輪轮輯辑輳辏輸输輻辐輾辗輿舆轂毂轄辖轅辕轆辘轉转轍辙轎轿轔辚轟轰轡辔轢轹轤轳辦办辭辞辮辫辯辩農农迴回逕迳這这連连進进運运過过達达違违遙遥"
    "遜逊遞递遠远適适遲迟遷迁選选遺遗遼辽邁迈還还邇迩邊边邏逻邐逦郟郏郵邮鄆郓鄉乡鄒邹鄔邬鄖郧鄧邓鄭郑鄰邻鄲郸鄴邺鄶郐鄺邝酈郦醜丑醞酝醫医醬酱釀酿釁衅釃酾釅酽釋释釐厘"
    "釓钆釔钇釕钌釗钊釘钉釙钋針针釣钓釤钐釧钏釩钒釵钗釷钍釹钕鈀钯鈁钫鈄钭鈉钠鈍钝鈐钤鈑钣鈔钞鈕钮鈞钧鈣钙鈥钬鈦钛鈧钪鈮铌鈰铈鈳钶鈴铃鈷钴鈸钹鈹铍鈺钰鈽钸鈾铀鈿钿鉀钾"
    "鉅钜鉈铊鉉铉鉍铋鉑铂鉗钳鉚铆鉛铅鉞钺鉤钩鉦钲鉬钼鉭钽鉸铰鉺铒鉻铬鉿铪銀银銃铳銅铜銑铣銓铨銖铢銘铭銚铫銜衔銠铑銣铷銥铱銦铟銨铵銩铥銪铕銫铯銬铐銳锐銷销銻锑銼锉鋁铝"
    "鋃锒鋅锌鋇钡鋌铤鋏铗鋒锋鋝锊鋟锓鋤锄鋦锔鋨锇鋪铺鋮铖鋯锆鋰锂鋱铽鋸锯鋼钢錁锞錄录錆锖錈锩錐锥錒锕錕锟錘锤錙锱錚铮錛锛錟锬錠锭錢钱錦锦錨锚錫锡錮锢錯错錳锰錶表錸铼"
    "鍆钔鍇锴鍋锅鍍镀鍔锷鍘铡鍛锻鍤锸鍥锲鍬锹鍰锾鍵键鍶锶鍺锗鍾钟鎂镁鎊镑鎖锁鎘镉鎢钨鎣蓥鎦镏鎧铠鎩铩鎪锼鎬镐鎮镇鎰镒鎳镍鎵镓鏃镞鏇旋鏈链鏌镆鏍镙鏑镝鏗铿鏘锵鏜镗鏝镘"
    "鏞镛鏟铲鏡镜鏢镖鏤镂鏨錾鏵铧鏷镤鏹镪鏽锈鐃铙鐋铴鐐镣鐒铹鐓镦鐔镡鐘钟鐙镫鐠镨鐨镄鐫镌鐮镰鐲镯鐳镭鐵铁鐸铎鐺铛鐿镱鑄铸鑊镬鑌镔鑒鉴鑠铄鑣镳鑭镧鑰钥鑲镶鑷镊鑼锣鑽钻"
    "鑾銮鑿凿長长門门閂闩閃闪閆闫閉闭開开閌闶閎闳閏闰閑闲閒闲間间閔闵閘闸閡阂閣阁閤合閥阀閨闺閩闽閫阃閬阆閭闾閱阅閶阊閹阉閻阎閼阏閽阍閾阈閿阌闃阒闆板闈闱闊阔闋阕闌阑"
    "闐阗闔阖闕阙闖闯關关闞阚闡阐闢辟闥闼阪坂陘陉陝陕陣阵陰阴陳陈陸陆陽阳隉陧隊队階阶隕陨際际隨随險险隱隐隴陇隸隶隻只雋隽雖虽雙双雛雏雜杂雞鸡離离難难雲云電电霧雾霽霁"
    "靂雳靄霭靈灵靚靓靜静靦腼靨靥鞀鼗鞏巩鞝绱鞦秋韁缰韃鞑韆千韉鞯韋韦韌韧韓韩韙韪韜韬韞韫韻韵響响頁页頂顶頃顷項项順顺頇顸須须頊顼頌颂頎颀頏颃預预頑顽頒颁頓顿頗颇領领"
    "頜颌頡颉頤颐頦颏頭头頰颊頷颔頸颈頹颓頻频顆颗題题額额顎颚顏颜顓颛願愿顙颡顛颠類类顢颟顥颢顧顾顫颤顯显顰颦顱颅顳颞顴颧風风颮飑颯飒颱台颳刮颶飓颼飕飄飘飆飙飛飞飢饥"
    "飩饨飪饪飫饫飭饬飯饭飲饮飴饴飼饲飽饱飾饰餃饺餅饼餉饷養养餌饵餑饽餒馁餓饿餘余餚肴餛馄餞饯餡馅館馆餱糇餳饧餼饩餾馏餿馊饃馍饅馒饈馐饉馑饋馈饌馔饒饶饗飨饜餍饞馋馬马"
    "馭驭馮冯馱驮馳驰馴驯駁驳駐驻駑驽駒驹駔驵駕驾駘骀駙驸駛驶駝驼駟驷駢骈駭骇駱骆駿骏騁骋騅骓騍骒騎骑騏骐騖骛騙骗騫骞騭骘騮骝騰腾騶驺騷骚騸骟騾骡驀蓦驁骜驂骖驃骠驄骢"
    "驅驱驊骅驍骁驏骣驕骄驗验驚惊驛驿驟骤驢驴驤骧驥骥驪骊骯肮髏髅髒脏體体髕髌髖髋髮发鬆松鬍胡鬚须鬢鬓鬥斗鬧闹鬩阋鬮阄鬱郁魎魉魘魇魚鱼魯鲁魴鲂魷鱿鮐鲐鮑鲍鮒鲋鮚鲒鮞鲕"
    "鮪鲔鮫鲛鮭鲑鮮鲜鯀鲧鯁鲠鯇鲩鯉鲤鯊鲨鯔鲻鯖鲭鯗鲞鯛鲷鯡鲱鯢鲵鯤鲲鯧鲳鯨鲸鯪鲮鯫鲰鯰鲶鯽鲫鰈鲽鰉鳇鰍鳅鰒鳆鰓鳃鰣鲥鰥鳏鰨鳎鰩鳐鰭鳍鰱鲢鰲鳌鰳鳓鰷鲦鰹鲣鰻鳗鰾鳔鱈鳕"
    "鱉鳖鱒鳟鱔鳝鱖鳜鱗鳞鱘鲟鱟鲎鱧鳢鱭鲚鱷鳄鱸鲈鱺鲡鳥鸟鳧凫鳩鸠鳳凤鳴鸣鳶鸢鴆鸩鴇鸨鴉鸦鴕鸵鴛鸳鴝鸲鴟鸱鴣鸪鴦鸯鴨鸭鴯鸸鴰鸹鴻鸿鴿鸽鵂鸺鵑鹃鵒鹆鵓鹁鵜鹈鵝鹅鵠鹄鵡鹉"
    "鵪鹌鵬鹏鵯鹎鵲鹊鶇鸫鶉鹑鶘鹕鶚鹗鶩鹜鶯莺鶴鹤鶻鹘鶼鹣鷂鹞鷓鹧鷗鸥鷙鸷鷚鹨鷥鸶鷦鹪鷯鹩鷲鹫鷳鹇鷸鹬鷹鹰鷺鹭鸕鸬鸚鹦鸛鹳鸝鹂鸞鸾鹵卤鹹咸鹺鹾鹼硷鹽盐麗丽麥麦麩麸麵面"
    "麼么黃黄黌黉點点黨党黲黪黴霉黷黩黽黾黿鼋鼉鼍鼕冬鼴鼹齊齐齋斋齎赍齏齑齒齿齔龀齙龅齜龇齟龃齠龆齡龄齣出齦龈齪龊齬龉齲龋齶腭齷龌龍龙龐庞龔龚龕龛龜龟週周"
)
SIMPLIFIED = _pairs(TRADITIONAL_TO_SIMPLIFIED)  # ord(Traditional) → Simplified
TRADITIONAL_RUNS = re.compile("[" + "".join(map(chr, SIMPLIFIED)) + "]+")

# Simplified → its Traditional forms (the inverse of SIMPLIFIED; 发 → 發, 髮).
TRADITIONAL: dict[str, tuple[str, ...]] = {}
for _traditional, _simplified in SIMPLIFIED.items():
    TRADITIONAL[_simplified] = (*TRADITIONAL.get(_simplified, ()), chr(_traditional))

# Japanese writes Chinese place names and textile words in kanji: the Traditional form,
# except where the Japanese form (shinjitai) differs. Simplified → Japanese, for the
# characters of such names and words whose Japanese form is not the Traditional one
# (some equal the Simplified: 国, 区, 装, 晋).
JAPANESE = {chr(k): v for k, v in _pairs((
    "吴呉泽沢乡郷轻軽县県广広佛仏纤繊经経带帯团団卖売关関发発转転铁鉄单単战戦乐楽药薬检検险険验験"
    "剂剤扩拡价価变変对対总総济済营営劳労丝糸实実写写边辺国国区区装装晋晋会会学学来来条条号号体体"
    "万万与与台台当当点点宝宝礼礼声声尽尽旧旧湾湾汇汇厅庁码碼产産叠畳绣繍"
    # and in town names: 沙溪 is 沙渓, 增城 増城, 盐步 塩歩, 周庄 周荘, 荣 栄.
    "溪渓增増盐塩步歩庄荘荣栄"
)).items()}


def variants(text: str, limit: int = 8) -> tuple[str, ...]:
    """Traditional and Japanese spellings of a Simplified `text`, other than `text` itself.

    Character by character: 轻纺城 → 輕紡城 and 軽紡城. A character with several
    Traditional forms (发: 發, 髮) yields one spelling per form, at most `limit` in all;
    a character that is also Traditional (面, 台) keeps its own form among them.
    """
    if text.isascii():
        return ()
    spellings: dict[str, None] = {}
    for japanese in (False, True):
        choices = []
        for char in text:
            if japanese and char in JAPANESE:
                choices.append((JAPANESE[char],))
            elif char in TRADITIONAL:
                choices.append(TRADITIONAL[char] + ((char,) if _is_traditional(char) else ()))
            else:
                choices.append((char,))
        for spelling in itertools.islice(itertools.product(*choices), limit):
            spellings.setdefault("".join(spelling))
    spellings.pop(text, None)
    return tuple(spellings)


def _is_traditional(char: str) -> bool:
    try:
        char.encode("big5")
    except UnicodeEncodeError:
        return False
    return True


@functools.cache
def pinyin_readings() -> dict[str, str]:
    """The toneless pinyin reading of each GB 2312 character (its first reading), from
    `pipelines/data/pinyin.txt`."""
    readings: dict[str, str] = {}
    text = resources.files("loomwatch.pipelines.data").joinpath("pinyin.txt").read_text(encoding="utf-8")
    for line in text.splitlines():
        if line and not line.startswith("#"):
            reading, chars = line.split(" ", 1)
            readings.update(dict.fromkeys(chars, reading))
    return readings


# Some mirror and reposting sites print each less common character's pinyin after it in
# brackets: 织(zhī)里童装, 产(chǎn)业. A tone mark tells such a note from an English word in
# brackets, 棉(cotton), which stays.
_TONE_MARKED = "āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜ"
_SYLLABLE = f"[a-zü{_TONE_MARKED}]*[{_TONE_MARKED}][a-zü{_TONE_MARKED}]*"
# The bracket first, then the character before it: a pattern that opens with a lookbehind
# is tried at every position, three times slower.
PINYIN_NOTE = re.compile(f"[(（](?<=[{HAN_BMP}][(（]) ?{_SYLLABLE} ?[)）]")


def without_pinyin_notes(text: str) -> str:
    """`text` without pinyin printed in brackets after its characters (织(zhī)里 → 织里)."""
    if "(" not in text and "（" not in text:
        return text
    return PINYIN_NOTE.sub("", text)
